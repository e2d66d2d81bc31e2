/**
 * The relay's two boundaries (the outbox pattern): the change log it drains, in Postgres,
 * and the stream it fills, GRANTS in NATS. The leader's loop (leader.ts) sees only these
 * interfaces, so its rules (publish in order, reconcile after a failure, the busy/idle
 * hand-over) are testable without servers; the real ones wrap changelog.ts and
 * publisher.ts.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import type pg from 'pg';
import { ensureGrantsStream } from '../bus/streams.js';
import type { Logger } from '../observability/log.js';
import { currentXmax, horizonPassed, markPublished, readBatch, readState, setRelayIdle, type LoggedChange, type Published, type RelayState } from './changelog.js';
import { advanceStream, publishChain, readStreamTail, type Outgoing, type StreamTail } from './publisher.js';

/** The change log, on the leader's connection (which holds the publishing lock). */
export interface ChangeLog {
  state(): Promise<RelayState>;
  /**
   * Up to `limit` of the oldest unpublished changes, in publishing order; with `published`,
   * first forgets those and records the position, in the same statement (changelog.ts).
   */
  read(limit: number, published?: Published): Promise<LoggedChange[]>;
  /** Forgets published changes and records the stream position, atomically. */
  markPublished(logIds: readonly string[], streamSeq: number): Promise<void>;
  /** Tells writers to NOTIFY (idle) or not (busy). */
  setIdle(idle: boolean): Promise<void>;
  /** The first transaction id not yet assigned. */
  currentXmax(): Promise<string>;
  /** True once every transaction below `xid` has ended. */
  horizonPassed(xid: string): Promise<boolean>;
}

/** Stream GRANTS. Every method may fail while NATS is away; the loop retries. */
export interface EventStream {
  /** Creates the stream or brings its settings up to date. */
  ensure(): Promise<void>;
  /** Publishes `batch` as a chain directly after stream sequence `base`, whose message has id `lastMsgId` (publisher.ts). */
  publish(base: number, lastMsgId: string | undefined, batch: readonly Outgoing[]): Promise<void>;
  /** What the stream holds after `after`: its last sequence, its last message id and this epoch's log ids. */
  tail(epoch: string, after: number): Promise<StreamTail>;
  /** Moves the stream's end forward to `lastSeq` (it is empty afterwards): `seq` never goes back. */
  advance(lastSeq: number): Promise<void>;
}

export function pgChangeLog(client: pg.ClientBase): ChangeLog {
  return {
    state: () => readState(client),
    read: (limit, published) => readBatch(client, limit, published),
    markPublished: (logIds, streamSeq) => markPublished(client, logIds, streamSeq),
    setIdle: (idle) => setRelayIdle(client, idle),
    currentXmax: () => currentXmax(client),
    horizonPassed: (xid) => horizonPassed(client, xid),
  };
}

export interface NatsEventStreamOptions {
  /** GRANTS_MAX_AGE. */
  maxAgeMs: number;
  /** NATS_STREAM_REPLICAS. */
  replicas: number;
  /** Deadline of one batch's acknowledgements. */
  publishTimeoutMs: number;
}

export function natsEventStream(js: JetStreamClient, jsm: JetStreamManager, options: NatsEventStreamOptions, log: Logger): EventStream {
  return {
    ensure: () => ensureGrantsStream(jsm, { maxAgeMs: options.maxAgeMs, replicas: options.replicas }, log),
    publish: (base, lastMsgId, batch) => publishChain(js, base, lastMsgId, batch, options.publishTimeoutMs),
    tail: (epoch, after) => readStreamTail(jsm, epoch, after),
    advance: (lastSeq) => advanceStream(jsm, lastSeq),
  };
}
