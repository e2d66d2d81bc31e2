/**
 * Requests per second per key (CONTRACT v1.1 section 6: a token's `sub`, or the client
 * address without one): a token bucket per key that refills at `ratePerSecond` and holds
 * at most `burst`. A request finding it empty is refused with the whole seconds until the
 * next token (the `Retry-After` of a 429).
 *
 * # Memory
 * At most `maxKeys` buckets: beyond, the key used least recently (to a second) is forgotten (a forgotten
 * key starts again with a full bucket, which costs the service one burst; unbounded memory
 * under a flood of addresses would cost it the process).
 */
/** A bucket in use is moved to the recent end of the order at most this often. */
const MOVE_AFTER_MS = 1_000;

export class RateLimiter {
  /** Least recently moved first: a bucket moves to the end at most once per MOVE_AFTER_MS. */
  private readonly buckets = new Map<string, { tokens: number; at: number; movedAt: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes a token of `key`: 0 when the request may go on, else the seconds to wait (at least 1). */
  take(key: string): number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.ratePerSecond) / 1_000);
      bucket.at = now;
      // Moving a key on every request (delete and set) cost 4% of a busy gateway's CPU; the
      // order only decides which idle key is forgotten first, so a second's precision will do.
      if (now - bucket.movedAt >= MOVE_AFTER_MS) {
        this.buckets.delete(key);
        this.buckets.set(key, bucket);
        bucket.movedAt = now;
      }
    } else {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.burst, at: now, movedAt: now };
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }

  /** Keys remembered now. */
  get size(): number {
    return this.buckets.size;
  }
}
