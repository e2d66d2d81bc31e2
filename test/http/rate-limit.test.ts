/**
 * The REST rate limiter (src/http/rate-limit.ts) with a hand-driven clock: the bucket's
 * refill and Retry-After, and which key is forgotten when the limiter is full (the one
 * used least recently, to a second).
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/http/rate-limit.js';

describe('rate limiter', () => {
  it('a burst, then one request per 1/rate seconds; the wait is whole seconds', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 4, 100, () => now);
    for (let i = 0; i < 4; i++) expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBe(1);
    now += 500;
    expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBe(1);
  });

  it('full: the key used least recently is forgotten, and a key in use is kept', () => {
    let now = 0;
    const limiter = new RateLimiter(1, 2, 3, () => now);
    limiter.take('a');
    now += 10;
    limiter.take('b');
    now += 10;
    limiter.take('c');
    // `a` empties its bucket, used again after more than a second: it moves to the recent end.
    limiter.take('a');
    now += 1_500;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    // A fourth key: `b`, the least recently used, is forgotten; `a` keeps its empty bucket.
    limiter.take('d');
    expect(limiter.size).toBe(3);
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('b')).toBe(0);
  });
});
