/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): attempt n waits a uniformly random time in [0, min(max, base * 2^n)).
 * Full jitter spreads a crowd of clients that lost the same gateway, so a restart is not
 * followed by a synchronised reconnect storm.
 */
export interface ReconnectOptions {
  /** Ceiling of the first delay, in milliseconds. */
  baseMs: number;
  /** Largest ceiling, in milliseconds. */
  maxMs: number;
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = { baseMs: 500, maxMs: 20_000 };

/** The delay before reconnect attempt `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: ReconnectOptions, random: () => number = Math.random): number {
  // 2^30 already exceeds any sane maximum; the cap keeps the product finite.
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * Math.max(ceiling, 0));
}
