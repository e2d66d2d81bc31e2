/**
 * Reconnect delays of the SDK: the service's one backoff formula (domain/backoff.ts, full
 * jitter) with the client's defaults.
 */
import type { BackoffPolicy } from '../domain/backoff.js';

export { backoffDelay } from '../domain/backoff.js';

/** Ceiling of the first reconnect delay and the largest ceiling, in milliseconds. */
export type ReconnectOptions = BackoffPolicy;

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = { baseMs: 500, maxMs: 20_000 };
