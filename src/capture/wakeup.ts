/**
 * The relay's wake-ups: a wait that ends at its deadline or at once when kicked (a NOTIFY,
 * a listener reconnect, a failed connection, a stop). `dirty` tells which, and stays set
 * until a pass clears it, so a kick between two waits is never lost.
 */
import { sleep } from '../lifecycle/retry.js';

export class Wakeup {
  /** A kick arrived since the last `clear`. */
  dirty = true;
  /** Set once by `stop`; every later wait returns at once. */
  stopped = false;
  private waiting: AbortController | undefined;

  kick(): void {
    this.dirty = true;
    this.waiting?.abort();
    this.waiting = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.kick();
  }

  /** Forgets kicks so far (a pass is about to read everything they announced). */
  clear(): void {
    this.dirty = false;
  }

  /** Resolves after `ms`, or at once when kicked (or already kicked, or stopped). */
  async wait(ms: number): Promise<void> {
    if (this.dirty || this.stopped) return;
    const waiting = new AbortController();
    this.waiting = waiting;
    await sleep(ms, waiting.signal);
    if (this.waiting === waiting) this.waiting = undefined;
  }

  /** Waits `ms` unless kicked meanwhile, ignoring kicks that came before. */
  async pause(ms: number): Promise<void> {
    this.clear();
    await this.wait(ms);
  }
}
