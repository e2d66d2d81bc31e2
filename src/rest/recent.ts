/**
 * What the REST side keeps of the gateway's feed: the most recent change events (for
 * `GET /v1/changes` without a trip to JetStream), when each stream sequence was seen (for
 * the cache's staleness bound), and the long-poll waiters.
 *
 * Waiters are released by the next event, by their timeout or by their request's abort,
 * whichever comes first, and each of the three removes the waiter: an aborted long-poll
 * leaves nothing behind (`waiting` counts what is left).
 */
export interface RecentEvent {
  seq: number;
  /** The event as the relay published it (JSON, with `seq`, without `type`). */
  json: string;
}

/** How often the seen-at history takes a new sample at most. */
const SAMPLE_MS = 10;

export class RecentChanges {
  private readonly ring: RecentEvent[] = [];
  private start = 0;
  /** Characters of JSON held from `start` on. */
  private chars = 0;
  private readonly waiters = new Set<() => void>();
  /** (time, seq) samples, oldest first; `seen[0]` stands for everything before it. */
  private readonly seen: { at: number; seq: number }[] = [];

  /**
   * Holds at most `capacity` events and `maxChars` characters of them (events carry whole
   * grants: a count alone would not bound the memory).
   */
  constructor(
    private readonly capacity: number,
    private readonly maxChars: number,
    private readonly historyMs: number,
    headAtStart: number,
    now = Date.now(),
  ) {
    this.seen.push({ at: now, seq: headAtStart });
  }

  push(event: RecentEvent, now = Date.now()): void {
    this.ring.push(event);
    this.chars += event.json.length;
    while (this.ring.length - this.start > this.capacity || (this.chars > this.maxChars && this.ring.length - this.start > 1)) {
      this.chars -= this.ring[this.start]!.json.length;
      this.ring[this.start++] = undefined as unknown as RecentEvent;
    }
    if (this.start > 4_096 && this.start * 2 > this.ring.length) {
      this.ring.splice(0, this.start);
      this.start = 0;
    }
    const last = this.seen[this.seen.length - 1]!;
    if (now - last.at < SAMPLE_MS) last.seq = event.seq;
    else this.seen.push({ at: now, seq: event.seq });
    while (this.seen.length > 1 && this.seen[1]!.at <= now - this.historyMs) this.seen.shift();
    for (const wake of [...this.waiters]) wake();
  }

  /** Highest sequence seen at or before `at` (the sequence the feed started at, if earlier). */
  seqSeenAt(at: number): number {
    let seq = this.seen[0]!.seq;
    for (const s of this.seen) {
      if (s.at > at) break;
      seq = s.seq;
    }
    return seq;
  }

  /** Oldest sequence held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.ring[this.start]?.seq;
  }

  /**
   * Events after `since`, at most `limit`, if the ring holds all of them (its oldest event
   * is at most `since + 1`); undefined when older ones would be needed.
   */
  after(since: number, limit: number): RecentEvent[] | undefined {
    const oldest = this.oldest;
    if (oldest === undefined || oldest > since + 1) return undefined;
    // Sequences in the ring are increasing but may skip (another process's messages are not
    // skipped by the stream, but a stream can be recreated); search rather than index.
    let lo = this.start;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ring[mid]!.seq <= since) lo = mid + 1;
      else hi = mid;
    }
    return this.ring.slice(lo, lo + limit);
  }

  /** Resolves when the next event arrives, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      this.waiters.add(done);
    });
  }

  /** Long-polls waiting now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Wakes every waiter (shutdown). */
  releaseAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
