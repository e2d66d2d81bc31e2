/**
 * Retry delays, for every loop that retries (the relay, the invalidator, ingest, the
 * scrapers' fetcher) and for the client SDK's reconnects: exponential backoff with full
 * jitter (AWS architecture blog, "Exponential Backoff And Jitter"). Attempt n waits a
 * uniformly random time in [0, min(max, base * 2^n)). Full jitter spreads a crowd that
 * failed together (clients of a gateway that went away, ingest processes after a database
 * restart), so the retries do not arrive as one synchronised storm.
 *
 * A pure function: the sleeping is the caller's (lifecycle/retry.ts on the server, the
 * SDK's own timers in the client).
 */

/** Where the delays start and where they stop growing. */
export interface BackoffPolicy {
  /** Ceiling of the first delay, in milliseconds. */
  baseMs: number;
  /** Largest ceiling, in milliseconds. */
  maxMs: number;
}

/** The delay before retry `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  // 2^30 already exceeds any sane maximum; the cap keeps the product finite.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * Math.max(ceiling, 0));
}
