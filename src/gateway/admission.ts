/**
 * Admission of new connections (CONTRACT v1.1 section 5): at most GATEWAY_ACCEPT_RATE
 * upgrades in any one second (a sliding window, exact), and none while draining. A refused
 * upgrade is answered 503 with `Retry-After`, spread over a few seconds so that a crowd
 * refused together does not come back together.
 *
 * The window is a ring of the last `rate` admission times: an upgrade is admitted when the
 * oldest of them is more than a second old. O(1) per upgrade, `rate` numbers of memory.
 */

const WINDOW_MS = 1_000;
/** A draining gateway's clients are better served elsewhere soon: Retry-After 1 to 3 s. */
const DRAINING_RETRY_S = 1;
/** Extra seconds, 0 up to this, added to each Retry-After so refused clients spread out. */
const RETRY_SPREAD_S = 2;

export type Admitted = { ok: true } | { ok: false; retryAfterSeconds: number; reason: 'draining' | 'over_capacity' };

/** Where each decision is counted (`navimpact_gateway_admissions_total{result}`; series.ts Tally). */
export interface AdmissionCounter {
  incFor(result: 'admitted' | 'draining' | 'over_capacity'): void;
}

/** The one answer of every admitted upgrade: made once (an upgrade allocates as little as it can). */
const ADMITTED: Admitted = { ok: true };

export class Admission {
  private readonly times: Float64Array;
  private next = 0;
  /** Set when the gateway starts draining: every upgrade is refused from then on. */
  draining = false;

  constructor(
    /** GATEWAY_ACCEPT_RATE. */
    rate: number,
    private readonly counter?: AdmissionCounter,
    private readonly random: () => number = Math.random,
  ) {
    this.times = new Float64Array(rate).fill(-Infinity);
  }

  admit(now = Date.now()): Admitted {
    const decision = this.decide(now);
    this.counter?.incFor(decision.ok ? 'admitted' : decision.reason);
    return decision;
  }

  private decide(now: number): Admitted {
    if (this.draining) return { ok: false, retryAfterSeconds: DRAINING_RETRY_S + this.spread(), reason: 'draining' };
    const oldest = this.times[this.next]!;
    if (now - oldest < WINDOW_MS) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1_000)) + this.spread(), reason: 'over_capacity' };
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.times.length;
    return ADMITTED;
  }

  /** Extra seconds for one refusal's Retry-After. */
  private spread(): number {
    return Math.floor(this.random() * (RETRY_SPREAD_S + 1));
  }
}
