/**
 * The one backoff formula (domain/backoff.ts) and the server loops' retry helper
 * (lifecycle/retry.ts): full jitter within the doubling ceiling, the cap, the abortable
 * sleep, and a retry that gives up only when its caller stops or on an error it is told
 * not to retry.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/domain/backoff.js';
import { retry, sleep } from '../../src/lifecycle/retry.js';

describe('backoff', () => {
  it('backoff - attempt n waits in [0, min(max, base * 2^n)): full jitter, doubling from the base, capped', () => {
    const policy = { baseMs: 100, maxMs: 5_000 };
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(5_000, 100 * 2 ** attempt);
      expect(backoffDelay(attempt, policy, () => 0)).toBe(0);
      expect(backoffDelay(attempt, policy, () => 0.999_999)).toBe(Math.floor(0.999_999 * ceiling));
      const d = backoffDelay(attempt, policy);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceiling);
    }
    expect(backoffDelay(-3, policy, () => 0.5)).toBe(50);
  });
});

describe('retry', () => {
  it('retry - a failing operation is tried again until it succeeds, with each failure reported', async () => {
    const failures: [string, number][] = [];
    let tries = 0;
    const value = await retry(
      async (attempt) => {
        tries++;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      { baseMs: 1, maxMs: 4, signal: new AbortController().signal, onRetry: (err, attempt) => failures.push([(err as Error).message, attempt]) },
    );
    expect(value).toBe('done');
    expect(tries).toBe(4);
    expect(failures).toEqual([
      ['fail 0', 1],
      ['fail 1', 2],
      ['fail 2', 3],
    ]);
  });

  it('retry - a stop during the backoff ends it at once with the last error', async () => {
    const stop = new AbortController();
    const failed = retry(
      async () => {
        throw new Error('down');
      },
      { baseMs: 60_000, maxMs: 60_000, random: () => 0.99, signal: stop.signal, onRetry: () => stop.abort() },
    );
    await expect(failed).rejects.toThrow('down');
  });

  it('retry - an already stopped caller is not retried', async () => {
    const stop = new AbortController();
    stop.abort();
    let tries = 0;
    await expect(
      retry(
        async () => {
          tries++;
          throw new Error('down');
        },
        { baseMs: 1, maxMs: 1, signal: stop.signal },
      ),
    ).rejects.toThrow('down');
    expect(tries).toBe(1);
  });

  it('retry - only the errors retryOn accepts are tried again, each delay with addMs on top of the backoff', async () => {
    const delays: number[] = [];
    let tries = 0;
    const failed = retry(
      async () => {
        tries++;
        throw new Error(tries < 3 ? 'locked' : 'broken');
      },
      { baseMs: 4, maxMs: 4, random: () => 0.5, addMs: 3, retryOn: (err) => (err as Error).message === 'locked', onRetry: (_err, _attempt, delayMs) => delays.push(delayMs) },
    );
    await expect(failed).rejects.toThrow('broken');
    expect(tries).toBe(3);
    expect(delays).toEqual([3 + 2, 3 + 2]);
  });

  it('sleep - resolves when aborted, long before its time, and leaves no listener behind', async () => {
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    stop.abort();
    await slept;
    const signal = new AbortController().signal;
    const waiting = sleep(5, signal);
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    await waiting;
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});
