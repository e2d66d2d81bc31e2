/**
 * What a room that serves change events needs of the process's feed of stream GRANTS
 * (REST's `/v1/changes`, the WebSocket gateway's resume): a small interface, so those rooms
 * do not depend on how the feed reads NATS.
 */

import type { ChangeEvent } from '../domain/events.js';

/** One valid change event, as the feed hands it to its listeners. */
export interface FeedEvent {
  /** Position in stream GRANTS. */
  seq: number;
  /** The grant's id (as in the subject). */
  id: string;
  change: ChangeEvent;
  /** The event as clients see it (no bus-only fields, no `type`): what `/v1/changes` answers. */
  json: string;
  /** The `grant` frame of CONTRACT section 5 for `grants` and `grant:<id>`. */
  frame: string;
}

/** A message of the stream that is not a valid change event: only its place is known. */
export interface SkippedEvent {
  seq: number;
  id: string;
  change: undefined;
}

export type FeedItem = FeedEvent | SkippedEvent;

/**
 * A replay from the stream ended before its last event (its consumer was lost with a NATS
 * node or a restart): nothing was skipped, but the replay is not complete; asking again
 * shortly succeeds once NATS answers.
 */
export class ReplayInterruptedError extends Error {
  override name = 'ReplayInterruptedError';
}

/** Called for every message, in stream order; most listeners skip `change: undefined`. */
export type FeedListener = (item: FeedItem) => void;

export interface ChangeFeed {
  /** Stream sequence of the last event handed to the listeners. */
  readonly head: number;
  /** True while events flow (from start until the feed stops or fails). */
  readonly live: boolean;
  /** First sequence the stream still holds (older ones expired). */
  firstSeq(): Promise<number>;
  /** Whether a replay after `since` would be served from the feed's window of recent events, without the stream. */
  covers?(since: number): boolean;
  /** Resolves once the feed delivered `seq`, after `timeoutMs`, or when `signal` aborts. */
  reached(seq: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Hands `each` the valid events with `since < seq <= until` of one grant (`grant:<id>`) or
   * of all (`grants`), in order, until it returns false. Resolves false when stopped early.
   */
  replay(scope: ReplayScope, since: number, until: number, each: (event: FeedEvent) => boolean): Promise<boolean>;
}

/** What a replay reads: every grant's events, or one grant's. */
export type ReplayScope = { grant: string } | 'all';
