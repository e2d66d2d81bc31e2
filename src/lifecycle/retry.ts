/**
 * Waiting and retrying, for every server loop (relay, invalidator, ingest): one abortable
 * sleep, and one retry loop over the backoff of domain/backoff.ts.
 *
 * A stopping role aborts its signal: a sleep then resolves at once (it never rejects, so a
 * stop is never mistaken for a failure), and `retry` gives up with the last error.
 */
import { backoffDelay, type BackoffPolicy } from '../domain/backoff.js';

/** Resolves after `ms`, or at once when `signal` aborts (already aborted: immediately). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

export interface RetryOptions extends BackoffPolicy {
  /** Aborted when the caller stops (or a deadline passes): no further try is made. Absent: tries until `op` succeeds. */
  signal?: AbortSignal;
  /** The errors worth another try; any other is thrown at once. Absent: every error. */
  retryOn?: (err: unknown) => boolean;
  /** Added to every backoff delay (a lock timeout: the table is then free at least half the time between tries). */
  addMs?: number;
  /** Called after each failed try, before sleeping `delayMs` (attempt 1 is the first failure). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

/**
 * Runs `op` until it succeeds, sleeping a backoff delay between tries. When `signal` is
 * aborted, or an error is not one `retryOn` accepts, that error is thrown instead of trying again.
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (options.signal?.aborted || (options.retryOn && !options.retryOn(err))) throw err;
      const delayMs = (options.addMs ?? 0) + backoffDelay(attempt, options, options.random);
      options.onRetry?.(err, attempt + 1, delayMs);
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) throw err;
    }
  }
}
