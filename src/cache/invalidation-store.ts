/**
 * The invalidator's two boundaries, as interfaces with their real implementations: the
 * cache in Redis it writes (tombstones and the watermark, through the scripts of
 * scripts.ts) and stream GRANTS it reads. The invalidator's loop (invalidator.ts) sees only
 * the interfaces, so its rules (resume, reset, rewind) are testable without servers.
 */
import { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import { StreamReader } from '../bus/stream-reader.js';
import { Streams } from '../domain/events.js';
import type { Logger } from '../observability/log.js';
import { cacheKeys, type CacheKeys } from './keys.js';
import { INVALIDATE, RESET } from './scripts.js';

/** What applying a batch did: applied, refused for lack of a watermark, or refused because the watermark is behind (its value). */
export type InvalidateResult = { kind: 'applied' } | { kind: 'no_watermark' } | { kind: 'behind'; watermark: number };

export interface InvalidationStore {
  /** The watermark, or null when there is none (a new or emptied cache). */
  watermark(): Promise<number | null>;
  /** Deletes every entry, tombstone and page; returns how many keys. */
  deleteAll(): Promise<number>;
  /** Sets the watermark after the cache was emptied. */
  resetWatermark(seq: number): Promise<void>;
  /** Applies the contiguous batch (first..last) of (id, version) changes, atomically with the watermark. */
  invalidate(first: number, last: number, changes: readonly (readonly [string, number])[]): Promise<InvalidateResult>;
  /** Removes a grant's key outright (its event could not be read). */
  drop(id: string): Promise<void>;
}

/** One message of stream GRANTS, as the invalidator reads it. */
export interface StreamMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Messages the stream holds after this one now. */
  pending: number;
}

export interface ChangeSource {
  /** First and last sequence the stream holds. */
  bounds(): Promise<{ first: number; last: number }>;
  /**
   * The stream's messages from `from` on, in order, until `stop` is called, or until they
   * end by themselves (the reader could not go on): the invalidator then reads again.
   */
  read(from: number): Promise<{ messages: AsyncIterable<StreamMessage>; stop(): void }>;
}

const APPLIED = -2;
const NO_WATERMARK = -1;

interface InvalidatorCommands {
  cacheInvalidate(watermark: string, ...args: (string | number)[]): Promise<number>;
  cacheReset(watermark: string, seq: number): Promise<number>;
}

/** Redis connection settings of the invalidator (a role, not a request path: it may wait). */
const REDIS_COMMAND_TIMEOUT_MS = 2_000;
const REDIS_RECONNECT_MAX_MS = 2_000;
const SCAN_COUNT = 1_000;

export class RedisInvalidationStore implements InvalidationStore {
  private readonly redis: Redis & InvalidatorCommands;
  private readonly keys: CacheKeys;

  constructor(
    url: string,
    prefix: string,
    private readonly tombstoneTtlMs: number,
  ) {
    this.keys = cacheKeys(prefix);
    this.redis = new Redis(url, {
      // One command at a time waits for the connection (bounded by commandTimeout) rather
      // than failing before the first connect.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 200, REDIS_RECONNECT_MAX_MS),
      lazyConnect: true,
    }) as Redis & InvalidatorCommands;
    this.redis.defineCommand('cacheInvalidate', { numberOfKeys: 1, lua: INVALIDATE });
    this.redis.defineCommand('cacheReset', { numberOfKeys: 1, lua: RESET });
    this.redis.on('error', () => undefined);
  }

  connect(): void {
    this.redis.connect().catch(() => undefined);
  }

  close(): void {
    this.redis.disconnect();
  }

  async watermark(): Promise<number | null> {
    const value = await this.redis.get(this.keys.watermark);
    return value === null ? null : Number(value);
  }

  async deleteAll(): Promise<number> {
    let deleted = 0;
    for (const pattern of this.keys.patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        if (keys.length) deleted += await this.redis.unlink(...keys);
      } while (cursor !== '0');
    }
    return deleted;
  }

  async resetWatermark(seq: number): Promise<void> {
    await this.redis.cacheReset(this.keys.watermark, seq);
  }

  async invalidate(first: number, last: number, changes: readonly (readonly [string, number])[]): Promise<InvalidateResult> {
    const args: (string | number)[] = [this.keys.grantPrefix, first, last, this.tombstoneTtlMs];
    for (const [id, version] of changes) args.push(id, version);
    const result = await this.redis.cacheInvalidate(this.keys.watermark, ...args);
    if (result === APPLIED) return { kind: 'applied' };
    if (result === NO_WATERMARK) return { kind: 'no_watermark' };
    return { kind: 'behind', watermark: result };
  }

  async drop(id: string): Promise<void> {
    await this.redis.unlink(this.keys.grant(id));
  }
}

/**
 * Stream GRANTS through JetStream: a reader from any sequence (bus/stream-reader.ts). Its
 * messages end by themselves when the reader's consumer cannot go on (the invalidator then
 * reads on from its position).
 */
export class NatsChangeSource implements ChangeSource {
  constructor(
    private readonly nc: NatsConnection,
    /** Messages JetStream hands over ahead of the invalidator. */
    private readonly prefetch: number,
    private readonly log: Logger,
  ) {}

  async bounds(): Promise<{ first: number; last: number }> {
    const info = await (await this.nc.jetstreamManager()).streams.info(Streams.grants);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  async read(from: number): Promise<{ messages: AsyncIterable<StreamMessage>; stop(): void }> {
    const reader = await StreamReader.open(this.nc, Streams.grants, from, { prefetch: this.prefetch, reader: 'invalidator', log: this.log });
    async function* messages(): AsyncIterable<StreamMessage> {
      for await (const m of reader) yield { seq: m.seq, subject: m.subject, data: m.data, pending: m.info.pending };
    }
    return { messages: messages(), stop: () => reader.stop() };
  }
}
