/**
 * A counting semaphore with a bounded queue: at most `limit` holders at once, at most
 * `queue` waiting; a caller beyond both is refused at once (`SemaphoreFullError`) instead of
 * piling up. Used to bound work that costs the servers per caller (a replay opens a NATS
 * consumer and reads up to thousands of messages).
 */
export class SemaphoreFullError extends Error {
  override name = 'SemaphoreFullError';
}

export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly queue: number,
  ) {}

  /** Holders now, and callers waiting. */
  get stats(): { held: number; waiting: number } {
    return { held: this.held, waiting: this.waiting.length };
  }

  /** Resolves with a release function once a place is free; rejects with SemaphoreFullError when the queue is full too. */
  acquire(): Promise<() => void> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.queue) return Promise.reject(new SemaphoreFullError(`${this.limit} running and ${this.queue} waiting`));
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The place passes straight to the next waiter; `held` stays the same.
      if (next) next();
      else this.held--;
    };
  }
}
