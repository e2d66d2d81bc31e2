/**
 * A connection's topics are held as nothing, one string, or a Set (connection.ts): the
 * topic functions must behave as one Set would, whatever the sequence of changes.
 */
import { describe, expect, it } from 'vitest';
import { addTopic, deleteTopic, hasTopic, topicCount, topicsOf, type TopicHolder } from '../../src/gateway/topics.js';

const TOPICS = ['grants', 'grant:1', 'grant:2', 'metrics', 'grants?status=open'];

/** A deterministic pseudo-random sequence (mulberry32), so that a failure can be replayed by its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('connection topics', () => {
  it('behave as a Set over 200 random sequences of adds and deletes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const c = { topics: undefined } as TopicHolder;
      const model = new Set<string>();
      for (let step = 0; step < 40; step++) {
        const topic = TOPICS[Math.floor(next() * TOPICS.length)]!;
        if (next() < 0.55) {
          addTopic(c, topic);
          model.add(topic);
        } else {
          expect(deleteTopic(c, topic), `seed ${seed} step ${step}: delete ${topic}`).toBe(model.delete(topic));
        }
        expect(topicCount(c), `seed ${seed} step ${step}`).toBe(model.size);
        expect(new Set(topicsOf(c))).toEqual(model);
        for (const t of TOPICS) expect(hasTopic(c, t)).toBe(model.has(t));
      }
    }
  });

  it('hold a single topic without a Set, and a Set from the second', () => {
    const c = { topics: undefined } as TopicHolder;
    addTopic(c, 'grants');
    addTopic(c, 'grants');
    expect(c.topics).toBe('grants');
    addTopic(c, 'metrics');
    expect(c.topics).toBeInstanceOf(Set);
    expect(deleteTopic(c, 'grants')).toBe(true);
    expect(deleteTopic(c, 'grants')).toBe(false);
    expect(topicsOf(c)).toEqual(['metrics']);
  });

  it('give a snapshot that can be iterated while the topics change', () => {
    const c = { topics: undefined } as TopicHolder;
    for (const t of TOPICS) addTopic(c, t);
    for (const t of topicsOf(c)) deleteTopic(c, t);
    expect(topicCount(c)).toBe(0);
  });
});
