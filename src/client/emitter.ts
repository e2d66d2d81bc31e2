/**
 * A tiny typed event emitter: the event names and payload types come from one map, so
 * `client.on('grant', (frame) => ...)` is checked by the compiler. No dependency, works the
 * same in browsers and Node.
 *
 * A listener that throws does not stop the others nor the client's own bookkeeping (the
 * client emits from inside socket callbacks): its error goes to `listenerError`, which a
 * subclass may override (default: rethrown outside the current call stack).
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    set.delete(listener as Listener<never>);
    if (set.size === 0) this.listeners.delete(event);
  }

  /** How many listeners `event` has (all events when omitted). */
  listenerCount(event?: keyof Events): number {
    if (event !== undefined) return this.listeners.get(event)?.size ?? 0;
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  protected listenerError(_event: keyof Events, err: unknown): void {
    rethrowLater(err);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    // A copy: a listener may remove itself (once) or others while we iterate.
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(payload);
      } catch (err) {
        this.listenerError(event, err);
      }
    }
  }
}

/** Reports an error outside the current call stack, as an EventTarget would. */
export function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
