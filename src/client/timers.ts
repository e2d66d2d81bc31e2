/**
 * Named one-shot timers. Setting a name cancels the timer that name held first (the
 * `start()` that cancels first of nats.js's heartbeats), so a timer can never leak by being
 * set twice, and `clear()` cancels every timer the owner holds: after it, `size` is 0.
 */
const MAX_DELAY = 2 ** 31 - 1;

export class Timers {
  private readonly handles = new Map<string, ReturnType<typeof setTimeout>>();

  set(name: string, ms: number, fn: () => void): void {
    this.cancel(name);
    const due = Date.now() + Math.max(0, ms);
    const arm = (delay: number) => {
      // setTimeout fires at once for delays above 2^31 - 1 ms (24.8 days): wait in steps.
      const handle = setTimeout(() => {
        if (this.handles.get(name) !== handle) return;
        const left = due - Date.now();
        if (left > 0) return arm(left);
        this.handles.delete(name);
        fn();
      }, Math.min(delay, MAX_DELAY));
      this.handles.set(name, handle);
    };
    arm(Math.max(0, ms));
  }

  cancel(name: string): void {
    const handle = this.handles.get(name);
    if (handle === undefined) return;
    clearTimeout(handle);
    this.handles.delete(name);
  }

  has(name: string): boolean {
    return this.handles.has(name);
  }

  clear(): void {
    for (const handle of this.handles.values()) clearTimeout(handle);
    this.handles.clear();
  }

  /** Timers pending now. */
  get size(): number {
    return this.handles.size;
  }
}
