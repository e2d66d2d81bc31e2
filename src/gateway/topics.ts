/**
 * The topics a connection subscribed to, kept as small as most connections need (issue 15):
 * none, the one topic itself, or a Set from the second on.
 */
/** What the functions below read and change (a connection's state, connection.ts). */
export interface TopicHolder {
  /**
   * Topics the client subscribed to (what it asked for, whatever uWS is subscribed to):
   * none, the one topic itself (what most clients hold), or a Set from the second on (a Set
   * costs 150 B).
   */
  topics: string | Set<string> | undefined;
}

export function hasTopic(c: TopicHolder, topic: string): boolean {
  const t = c.topics;
  return t === topic || (typeof t === 'object' && t.has(topic));
}

export function topicCount(c: TopicHolder): number {
  const t = c.topics;
  return t === undefined ? 0 : typeof t === 'string' ? 1 : t.size;
}

export function addTopic(c: TopicHolder, topic: string): void {
  const t = c.topics;
  if (t === undefined || t === topic) c.topics = topic;
  else if (typeof t === 'string') c.topics = new Set([t, topic]);
  else t.add(topic);
}

/** False when the connection did not hold `topic`. */
export function deleteTopic(c: TopicHolder, topic: string): boolean {
  const t = c.topics;
  if (t === topic) {
    c.topics = undefined;
    return true;
  }
  return typeof t === 'object' && t.delete(topic);
}

/** A snapshot of the connection's topics (safe to change them while iterating it). */
export function topicsOf(c: TopicHolder): string[] {
  const t = c.topics;
  return t === undefined ? [] : typeof t === 'string' ? [t] : [...t];
}
