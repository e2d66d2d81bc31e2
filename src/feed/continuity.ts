/**
 * Watches a process's feed of stream GRANTS for a break in its numbering. Sequences of a
 * healthy stream follow each other without a gap; a jump means the relay moved the stream
 * forward because it was lost or restored from an older copy, or because the database was
 * restored (docs/capture.md, docs/operations.md). Everything a process derived from the
 * older numbering is then stale: its clients' positions, its in-process cache, its recent
 * events. The owner resets them in `onBreak`.
 *
 * A break is seen two ways: the next event is not head + 1 (checked as the feed's first
 * listener, before any other listener hears of that event), or, when no event comes, the
 * stream's first sequence has moved past head + 1 (checked every `checkMs`).
 *
 * # Lifecycle
 * `observe` is added as the feed's first listener; `start` after the feed started; `stop`
 * clears the timer. Idempotent.
 */
import type { ChangeFeed } from './types.js';

/** How often the stream's first sequence is compared with the feed's head while no event comes. */
export const CONTINUITY_CHECK_MS = 1_000;

export interface FeedBreak {
  /** The feed's position before the break. */
  head: number;
  /** The first sequence of the stream after the break. */
  first: number;
}

export class FeedContinuity {
  /** Sequence the next event must carry; undefined before `start`. */
  private expected: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly onBreak: (info: FeedBreak) => void,
    private readonly checkMs = CONTINUITY_CHECK_MS,
  ) {}

  /** The feed's first listener. */
  observe(event: { seq: number }): void {
    if (this.expected !== undefined && event.seq !== this.expected) this.onBreak({ head: this.expected - 1, first: event.seq });
    this.expected = event.seq + 1;
  }

  start(): void {
    this.stop();
    this.expected = this.feed.head + 1;
    this.timer = setInterval(() => void this.check(), this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking || this.expected === undefined) return;
    this.checking = true;
    try {
      const first = await this.feed.firstSeq();
      const expected = this.expected;
      // Only a stream that holds nothing at or after `expected`, and starts past it, broke:
      // events between are still on their way to the feed otherwise.
      if (first > expected && this.feed.head === expected - 1) {
        this.expected = first;
        this.onBreak({ head: expected - 1, first });
      }
    } catch {
      // NATS away: the feed's own health shows it; the next check tries again.
    } finally {
      this.checking = false;
    }
  }
}
