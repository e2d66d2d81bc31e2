/**
 * Frames that carry a `ref`, and what each ref asked for: an `error` frame names the ref of
 * the request it refuses, and the client needs to know which topic or token that was.
 * Refs are never reused within a client; the table is cleared when a socket starts or ends,
 * since the server answers only on the socket that asked.
 */
import type { ClientFrame, Topic } from '../domain/frames.js';
import type { TopicTable } from './topics.js';

/** What a request in flight asked for. */
export type Pending = { kind: 'subscribe' | 'unsubscribe'; topic: Topic } | { kind: 'auth' };

/** The requests of the current connection. */
export class Requests {
  private nextRef = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly topics: TopicTable,
    /** Sends on the current socket (dropped when there is no open socket). */
    private readonly send: (frame: ClientFrame) => void,
  ) {}

  /** Subscribes with the `since` the topic table holds for `topic` (see topics.ts, "Resume"). */
  subscribe(topic: Topic): void {
    const since = this.topics.since(topic);
    this.request({ kind: 'subscribe', topic }, (ref) => (since === undefined ? { type: 'subscribe', topic, ref } : { type: 'subscribe', topic, since, ref }));
  }

  unsubscribe(topic: Topic): void {
    this.request({ kind: 'unsubscribe', topic }, (ref) => ({ type: 'unsubscribe', topic, ref }));
  }

  /** Sends a fresh token in-band. */
  auth(token: string): void {
    this.request({ kind: 'auth' }, (ref) => ({ type: 'auth', token, ref }));
  }

  /** Settles the request `ref` answers and returns what it asked for (undefined for a ref that is not ours). */
  answered(ref: string | number | undefined): Pending | undefined {
    if (typeof ref !== 'number') return undefined;
    const request = this.pending.get(ref);
    this.pending.delete(ref);
    return request;
  }

  clear(): void {
    this.pending.clear();
  }

  private request(what: Pending, frame: (ref: number) => ClientFrame): void {
    const ref = this.nextRef++;
    this.pending.set(ref, what);
    this.send(frame(ref));
  }
}
