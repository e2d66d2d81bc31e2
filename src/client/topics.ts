/**
 * The client's subscriptions and what it has seen of each: the table behind resume and
 * de-duplication.
 *
 * # Resume
 * `last` is the highest `seq` the consumer has been given on a topic (from a `grant` frame,
 * or the `seq` of a `subscribed` answer that started the topic afresh). On every
 * (re)connect the topic is subscribed with `since: last`, and the gateway replays the rest.
 *
 * # De-duplication
 * A grant frame without `topic` belongs to topic `grants` and to `grant:<its id>`. It is new
 * when its seq is above `last` of at least one of those topics the client holds; then
 * `last` of each of them moves up to it. A frame replayed on one topic and sent live on the
 * other, or sent twice at the seam between replay and live, is therefore given to the
 * consumer once, in order. A frame of a filtered view carries its `topic` and belongs to
 * that view alone.
 *
 * # `subscribed` and `seq`
 * - no `since` sent: the subscription starts after `seq`; `last` becomes `seq`.
 * - `since` sent and `recovered: true`: the missed frames follow; `last` stays at `since`
 *   (jumping to `seq` would drop the replay).
 * - `recovered: false`: the gap cannot be replayed; the consumer reloads and `last` becomes
 *   `seq` exactly, even if lower (a stream recreated from scratch numbers from 1 again).
 */
import { parseViewTopic, viewTopic } from '../domain/filter.js';
import { Topic } from '../domain/frames.js';

interface TopicState {
  /** Highest seq handed to the consumer; undefined until the first `subscribed`. */
  last: number | undefined;
  /** The `since` of the subscribe in flight on this connection. */
  requestedSince: number | undefined;
}

export class TopicTable {
  private readonly topics = new Map<Topic, TopicState>();

  /** Adds a topic; `since` when the caller already holds everything up to it. False when already held. */
  add(topic: Topic, since?: number): boolean {
    if (this.topics.has(topic)) return false;
    this.topics.set(topic, { last: since, requestedSince: undefined });
    return true;
  }

  remove(topic: Topic): boolean {
    return this.topics.delete(topic);
  }

  has(topic: Topic): boolean {
    return this.topics.has(topic);
  }

  list(): Topic[] {
    return [...this.topics.keys()];
  }

  last(topic: Topic): number | undefined {
    return this.topics.get(topic)?.last;
  }

  /** The `since` to subscribe with now, remembered to interpret the answer. */
  since(topic: Topic): number | undefined {
    const state = this.topics.get(topic);
    if (!state) return undefined;
    state.requestedSince = state.last;
    return state.last;
  }

  /** Applies a `subscribed` answer; true when the topic needs a reload (`recovered: false`). */
  subscribed(topic: Topic, seq: number, recovered: boolean): boolean {
    const state = this.topics.get(topic);
    if (!state) return false;
    const resumed = state.requestedSince !== undefined;
    state.requestedSince = undefined;
    if (!recovered) {
      state.last = seq;
      return topic !== 'metrics';
    }
    if (!resumed) state.last = Math.max(state.last ?? seq, seq);
    return false;
  }

  /** Forgets what the consumer saw of `topic` (the server refused its position): it starts afresh. */
  restart(topic: Topic): void {
    const state = this.topics.get(topic);
    if (state) state.last = undefined;
  }

  /** True when a grant frame is new to the consumer; records it as seen. */
  accept(frame: { id: string; seq: number; topic?: string | undefined }): boolean {
    const { id, seq } = frame;
    const states: TopicState[] = [];
    if (frame.topic !== undefined) {
      const view = this.topics.get(frame.topic);
      if (view) states.push(view);
    } else {
      const all = this.topics.get('grants');
      if (all) states.push(all);
      const one = this.topics.get(grantTopic(id));
      if (one) states.push(one);
    }
    if (!states.some((s) => s.last === undefined || seq > s.last)) return false;
    for (const s of states) s.last = Math.max(s.last ?? seq, seq);
    return true;
  }
}

/** The topic of one grant, with the id lower-cased as Postgres prints it. */
export function grantTopic(id: string): Topic {
  return `grant:${id.toLowerCase()}`;
}

/**
 * Validates a topic name and brings it to the form the server answers with (a grant id in
 * lower case, a filter in canonical form); throws a TypeError for anything else, naming the
 * filter parameter at fault.
 */
export function parseTopic(topic: string): Topic {
  const parsed = Topic.safeParse(topic);
  if (!parsed.success) throw new TypeError(`not a topic: ${JSON.stringify(topic)} (use grants, grants?<filter>, metrics or grant:<uuid>)`);
  if (parsed.data.startsWith('grant:')) return grantTopic(parsed.data.slice('grant:'.length));
  if (parsed.data.startsWith('grants?')) {
    try {
      return viewTopic(parseViewTopic(parsed.data));
    } catch (err) {
      throw new TypeError(`not a valid filter: ${(err as Error).message}`);
    }
  }
  return parsed.data;
}
