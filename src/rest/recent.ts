/**
 * The most recent change events of the feed, for `GET /v1/changes` without a trip to
 * JetStream, and the long-polls waiting for the next one.
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

/** Events kept at most... */
export const RECENT_EVENTS = 10_000;
/** ...and at most this many characters of them (events carry whole grants: a count alone would not bound the memory). */
export const RECENT_CHARS = 256_000;

export class RecentChanges {
  private readonly ring: RecentEvent[] = [];
  private start = 0;
  /** Characters of JSON held from `start` on. */
  private chars = 0;
  private readonly waiters = new Set<() => void>();

  /** Holds at most `capacity` events and `maxChars` characters of them. */
  constructor(
    private readonly capacity = RECENT_EVENTS,
    private readonly maxChars = RECENT_CHARS,
  ) {}

  push(event: RecentEvent): void {
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
    for (const wake of [...this.waiters]) wake();
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

  /** Forgets every event (stream GRANTS broke: they belong to an older numbering). */
  clear(): void {
    this.ring.length = 0;
    this.start = 0;
    this.chars = 0;
  }

  /** Wakes every waiter (shutdown). */
  releaseAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
