/**
 * The gateway's in-process cache layer on its own: the version rules that keep it exact
 * under the stale-set race, its bounds, and its refusal to serve while the feed is down.
 */
import { describe, expect, it } from 'vitest';
import { LocalGrants } from '../../src/cache/local.js';

const ID = '11111111-1111-4111-8111-111111111111';

function layer(o: Partial<{ maxEntries: number; maxChars: number; ttlMs: number; live: () => boolean }> = {}) {
  return new LocalGrants({ maxEntries: o.maxEntries ?? 100, maxChars: o.maxChars ?? 1_000_000, ttlMs: o.ttlMs ?? 60_000, windowMs: 5_000, live: o.live ?? (() => true) });
}

describe('local cache - version rules', () => {
  it('refuses a fill older than a version the feed announced, even after the entry was dropped', () => {
    const l = layer();
    l.fill(ID, 1, 'v1', 1_000, 1_000);
    expect(l.get(ID, 1_001)?.version).toBe(1);
    l.changed(ID, 2, 1_100);
    expect(l.get(ID, 1_101)).toBeUndefined();
    // A request that read version 1 before the change fills after it: refused.
    l.fill(ID, 1, 'v1', 1_050, 1_200);
    expect(l.get(ID, 1_201)).toBeUndefined();
    l.fill(ID, 2, 'v2', 1_150, 1_200);
    expect(l.get(ID, 1_201)?.json).toBe('v2');
    // A change to an older version than held (a late, duplicate event) keeps the entry.
    l.changed(ID, 2, 1_300);
    expect(l.get(ID, 1_301)?.version).toBe(2);
  });

  it('refuses a fill whose read began more than the fill window ago', () => {
    const l = layer();
    l.fill(ID, 1, 'v1', 0, 5_001);
    expect(l.get(ID, 5_002)).toBeUndefined();
  });

  it('never replaces an entry by an older or equal version', () => {
    const l = layer();
    l.fill(ID, 3, 'v3', 0, 0);
    l.fill(ID, 2, 'v2', 0, 0);
    l.fill(ID, 3, 'other', 0, 0);
    expect(l.get(ID, 1)?.json).toBe('v3');
  });

  it('drops a deleted grant (a delete carries the deleted version plus one)', () => {
    const l = layer();
    l.fill(ID, 4, 'v4', 0, 0);
    l.changed(ID, 5, 10);
    expect(l.get(ID, 11)).toBeUndefined();
    l.fill(ID, 4, 'v4', 5, 20);
    expect(l.get(ID, 21)).toBeUndefined();
  });
});

describe('local cache - bounds', () => {
  it('keeps at most maxEntries and maxChars, dropping the oldest first', () => {
    const l = layer({ maxEntries: 3, maxChars: 10 });
    for (let i = 0; i < 5; i++) l.fill(`id-${i}`, 1, 'xx', 0, 0);
    expect(l.size).toBe(3);
    expect(l.get('id-0', 1)).toBeUndefined();
    expect(l.get('id-4', 1)).toBeDefined();
    l.fill('big', 1, 'x'.repeat(9), 0, 0);
    expect(l.size).toBe(1);
  });

  it('expires entries after the TTL, and serves nothing while the feed is down', () => {
    let live = true;
    const l = layer({ ttlMs: 100, live: () => live });
    l.fill(ID, 1, 'v1', 0, 0);
    expect(l.get(ID, 100)).toBeDefined();
    expect(l.get(ID, 101)).toBeUndefined();
    l.fill(ID, 1, 'v1', 200, 200);
    live = false;
    expect(l.get(ID, 201)).toBeUndefined();
  });

  it('forgets announced versions after twice the window', () => {
    const l = layer();
    l.changed(ID, 9, 0);
    l.changed('other', 1, 10_001);
    l.fill(ID, 3, 'v3', 10_001, 10_001);
    expect(l.get(ID, 10_002)?.version).toBe(3);
  });
});
