/**
 * What a room that serves change events needs of the process's feed of stream GRANTS
 * (REST's `/v1/changes`, the WebSocket gateway's resume): a small interface, so those rooms
 * do not depend on how the feed reads NATS.
 */

/** One change event, as the feed hands it to its listeners. */
export interface FeedEvent {
  /** Position in stream GRANTS. */
  seq: number;
  /** The grant's id (lower case, as published). */
  id: string;
  /** The event as the relay published it (a ChangeEvent as JSON, with `seq`). */
  json: string;
  /** The `grant` frame of CONTRACT section 5 (domain/frames.ts `serverFrame.grant`). */
  frame: string;
}

/** Called for every event, in stream order. */
export type FeedListener = (event: FeedEvent) => void;

export interface ChangeFeed {
  /** Stream sequence of the last event handed to the listeners. */
  readonly head: number;
  /** True while events flow (from start until the feed stops or fails). */
  readonly live: boolean;
  /** First sequence the stream still holds (older ones expired). */
  firstSeq(): Promise<number>;
  /** Resolves once the feed delivered `seq`, or after `timeoutMs` regardless. */
  reached(seq: number, timeoutMs: number): Promise<void>;
  /**
   * Hands `each` the events (as published) of `topic` with `since < seq <= until`, in order,
   * until it returns false. Resolves false when stopped early by `each`.
   */
  replay(topic: string, since: number, until: number, each: (json: string, seq: number) => boolean): Promise<boolean>;
}
