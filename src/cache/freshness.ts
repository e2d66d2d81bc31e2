/**
 * The one owner of the cache's staleness bound (CACHE_INVALIDATION_BOUND, docs/cache.md):
 * which stream sequence a cached answer must reflect for this process to serve it now.
 *
 * It keeps when this process's feed saw each sequence, and a floor raised whenever Redis
 * comes back. `required()` is the higher of:
 * - the sequence the feed had seen CACHE_INVALIDATION_BOUND ago: every change that old must
 *   have been applied to Redis (by the invalidator) before a cached entry is trusted;
 * - the sequence the feed had seen when Redis last came back: entries that missed
 *   invalidations during an outage, or while no invalidator ran, are not served.
 * Before the feed started it asks for more than any watermark can say: nothing is served.
 */

/** How often the seen-at history takes a new sample at most. */
const SAMPLE_MS = 10;
/** The history covers twice the bound, and never less than this. */
const MIN_HISTORY_MS = 1_000;

export interface FreshnessOptions {
  /** CACHE_INVALIDATION_BOUND. */
  boundMs: number;
}

export class Freshness {
  /** (time, seq) samples, oldest first; `seen[0]` stands for everything before it. */
  private readonly seen: { at: number; seq: number }[] = [];
  private readonly historyMs: number;
  private floor = 0;
  private head = 0;

  constructor(private readonly options: FreshnessOptions) {
    this.historyMs = Math.max(options.boundMs * 2, MIN_HISTORY_MS);
  }

  /** The feed started after stream sequence `head`. */
  start(head: number, now = Date.now()): void {
    this.seen.push({ at: now, seq: head });
    this.head = head;
    this.floor = Math.max(this.floor, head);
  }

  /** The feed delivered `seq` (every event, in order). */
  observe(seq: number, now = Date.now()): void {
    this.head = seq;
    if (this.seen.length === 0) return;
    const last = this.seen[this.seen.length - 1]!;
    if (now - last.at < SAMPLE_MS) last.seq = seq;
    else this.seen.push({ at: now, seq });
    while (this.seen.length > 1 && this.seen[1]!.at <= now - this.historyMs) this.seen.shift();
  }

  /** Redis is reachable again: what happened while it was away must be covered first. */
  cacheReconnected(): void {
    this.floor = this.head;
  }

  /** The stream sequence a cached answer must reflect now. */
  required(now = Date.now()): number {
    if (this.seen.length === 0) return Number.MAX_SAFE_INTEGER;
    return Math.max(this.seenAt(now - this.options.boundMs), this.floor);
  }

  /** Highest sequence seen at or before `at` (the sequence the feed started at, if earlier). */
  private seenAt(at: number): number {
    let seq = this.seen[0]!.seq;
    for (const s of this.seen) {
      if (s.at > at) break;
      seq = s.seq;
    }
    return seq;
  }
}
