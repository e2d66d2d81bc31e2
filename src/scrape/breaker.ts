/**
 * A circuit breaker per host. A block (403, challenge page, 429 storm) opens it: every
 * request to that host is refused locally, without touching the network, until the
 * cooldown has passed. Then exactly one request goes out as a probe (half-open); success
 * closes the breaker, another block reopens it with the cooldown doubled (up to a cap).
 *
 * # Concurrency
 * The fetcher sends one request at a time per host, so at most one probe is in flight;
 * `admit()` still marks the probe as taken so a second caller is refused meanwhile.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  cooldownMs: number;
  maxCooldownMs: number;
  now: () => number;
}

export interface BlockInfo {
  reason: string;
  /** The breaker stays open at least this long (a long Retry-After). */
  minCooldownMs?: number;
}

export class HostBreaker {
  private stateValue: BreakerState = 'closed';
  private openedAt = 0;
  private cooldown: number;
  private probeInFlight = false;
  lastReason: string | undefined;

  constructor(
    readonly host: string,
    private readonly options: BreakerOptions,
  ) {
    this.cooldown = options.cooldownMs;
  }

  get state(): BreakerState {
    if (this.stateValue === 'open' && this.options.now() >= this.reopensAt) return 'half-open';
    return this.stateValue;
  }

  /** When an open breaker lets its probe through (ms since epoch). */
  get reopensAt(): number {
    return this.openedAt + this.cooldown;
  }

  /** Whether a request may go out now; the first one after the cooldown is the probe. */
  admit(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  /** A response that was not a block: a probe that gets one closes the breaker. */
  succeed(): void {
    if (this.stateValue !== 'closed') {
      this.stateValue = 'closed';
      this.cooldown = this.options.cooldownMs;
    }
    this.probeInFlight = false;
  }

  /** Opens the breaker. Returns true when it was closed before (a new block, worth announcing). */
  block(info: BlockInfo): boolean {
    const wasClosed = this.stateValue === 'closed';
    if (!wasClosed && this.probeInFlight) {
      // The probe was refused too: wait longer before the next one.
      this.cooldown = Math.min(this.cooldown * 2, this.options.maxCooldownMs);
    }
    if (info.minCooldownMs !== undefined) this.cooldown = Math.min(Math.max(this.cooldown, info.minCooldownMs), Math.max(this.options.maxCooldownMs, info.minCooldownMs));
    this.stateValue = 'open';
    this.openedAt = this.options.now();
    this.probeInFlight = false;
    this.lastReason = info.reason;
    return wasClosed;
  }

  /** A probe that ended without an answer (network error): let the next request probe again. */
  release(): void {
    this.probeInFlight = false;
  }
}
