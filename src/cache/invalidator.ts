/**
 * The `invalidator` role: applies every change event of stream GRANTS to the Redis cache, in
 * stream order, and nothing else (docs/cache.md).
 *
 * # Durability
 * Its position is the cache's watermark, kept in Redis and advanced by the same script that
 * applies the batch (scripts.ts INVALIDATE). After a crash it resumes at watermark + 1; after
 * Redis is restored from an older snapshot, the script refuses the next batch (it does not
 * start at or before watermark + 1) and the invalidator rewinds to where that snapshot
 * was. A NATS durable consumer would keep a position that is right for NATS but wrong for a
 * Redis that lost writes; this one cannot disagree with the data it describes.
 *
 * # Several invalidators
 * Each reads the whole stream in order from the watermark it found, so each one's position
 * means "everything up to here is applied"; the watermark is the furthest of them, and the
 * tombstones are idempotent (a key only ever moves to a newer version).
 *
 * # Reset
 * With no watermark (a new or emptied Redis) or one older than the stream still holds, the
 * cache cannot be brought up to date from the stream: the invalidator deletes every cache
 * key, waits out the fill window (a fill whose database read began before the deletion is
 * refused after that), deletes again, and sets the watermark to the stream's head.
 */
import { Redis } from 'ioredis';
import { DeliverPolicy, type ConsumerMessages, type JsMsg, type NatsConnection } from 'nats';
import { z } from 'zod';
import { ensureGrantsStream } from '../bus/streams.js';
import { LogCode } from '../domain/codes.js';
import { ChangeOp, Streams, Subjects } from '../domain/events.js';
import { GrantId } from '../domain/grant.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { cacheKeys, type CacheKeys } from './keys.js';
import { INVALIDATE, RESET } from './scripts.js';
import { fillWindowMs } from './store.js';

export interface InvalidatorOptions {
  redisUrl: string;
  prefix: string;
  tombstoneTtlMs: number;
  maxAgeMs: number;
  /** Most events applied in one script call. */
  batchSize?: number;
}

/** What the invalidator needs of a change event; the rest of the payload is not parsed into objects. */
const EventHead = z.object({ op: ChangeOp, id: GrantId, version: z.number().int().positive(), committedAt: z.string() });

interface InvalidatorCommands {
  cacheInvalidate(watermark: string, ...args: (string | number)[]): Promise<number>;
  cacheReset(watermark: string, seq: number): Promise<number>;
}

const APPLIED = -2;
const NO_WATERMARK = -1;

class Restart extends Error {
  constructor(readonly from: number | 'reset') {
    super('restart');
  }
}

export class Invalidator {
  private readonly redis: Redis & InvalidatorCommands;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private stopWaiters: (() => void)[] = [];
  private redisDown = false;
  private readonly keys: CacheKeys;
  /** Sequence up to which this invalidator applied every event (-1 before the first). */
  position = -1;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: InvalidatorOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.keys = cacheKeys(options.prefix);
    this.redis = new Redis(options.redisUrl, {
      // One command at a time waits for the connection (bounded by commandTimeout) rather
      // than failing before the first connect.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      lazyConnect: true,
    }) as Redis & InvalidatorCommands;
    this.redis.defineCommand('cacheInvalidate', { numberOfKeys: 1, lua: INVALIDATE });
    this.redis.defineCommand('cacheReset', { numberOfKeys: 1, lua: RESET });
    this.redis.on('error', () => undefined);
  }

  async start(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureGrantsStream(jsm, { maxAgeMs: this.options.maxAgeMs }, this.log);
    this.redis.connect().catch(() => undefined);
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.stopWaiters.splice(0)) wake();
    this.messages?.stop();
    await this.running;
    this.redis.disconnect();
  }

  private async run(): Promise<void> {
    let from: number | 'reset' | undefined;
    while (!this.stopped) {
      try {
        from ??= await this.resumePoint();
        if (from === 'reset') from = await this.reset();
        await this.consume(from);
        return;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof Restart) {
          from = err.from;
          continue;
        }
        this.log.error({ code: LogCode.InvalidatorRedisError, err }, 'invalidator failed; retrying');
        from = undefined;
        await this.pause(1_000);
      }
    }
  }

  /** Where to start: watermark + 1, or 'reset' when the stream no longer holds that far back. */
  private async resumePoint(): Promise<number | 'reset'> {
    const watermark = await this.retry(() => this.redis.get(this.keys.watermark));
    const info = await (await this.nc.jetstreamManager()).streams.info(Streams.grants);
    if (watermark === null) return 'reset';
    const wm = Number(watermark);
    if (wm + 1 < info.state.first_seq) return 'reset';
    this.log.info({ code: LogCode.InvalidatorResumed, from: wm + 1, head: info.state.last_seq }, 'invalidator resumes at the cache watermark');
    return wm + 1;
  }

  private async reset(): Promise<number> {
    const jsm = await this.nc.jetstreamManager();
    const head = (await jsm.streams.info(Streams.grants)).state.last_seq;
    const window = fillWindowMs(this.options.tombstoneTtlMs);
    const first = await this.retry(() => this.deleteAll());
    await this.pause(window + 100);
    const second = await this.retry(() => this.deleteAll());
    await this.retry(() => this.redis.cacheReset(this.keys.watermark, head));
    this.log.warn({ code: LogCode.InvalidatorReset, watermark: head, deleted: first + second }, 'cache emptied: it had no watermark, or one older than stream GRANTS holds');
    return head + 1;
  }

  private async deleteAll(): Promise<number> {
    let deleted = 0;
    for (const pattern of this.keys.patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next;
        if (keys.length) deleted += await this.redis.unlink(...keys);
      } while (cursor !== '0');
    }
    return deleted;
  }

  private async consume(from: number): Promise<void> {
    const js = this.nc.jetstream();
    const consumer = await js.consumers.get(Streams.grants, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    const batchSize = this.options.batchSize ?? 500;
    this.messages = await consumer.consume({ max_messages: batchSize * 2 });
    const messages = this.messages;
    if (this.stopped) messages.stop();
    this.position = from - 1;
    let batch: JsMsg[] = [];
    try {
      for await (const m of messages) {
        if (batch.length === 0 && m.seq > this.position + 1) {
          // The stream dropped events this invalidator had not applied (older than GRANTS keeps).
          throw new Restart('reset');
        }
        batch.push(m);
        if (batch.length >= batchSize || m.info.pending === 0) {
          await this.apply(batch);
          batch = [];
        }
      }
    } finally {
      messages.stop();
    }
  }

  private async apply(batch: JsMsg[]): Promise<void> {
    const args: (string | number)[] = [this.keys.grantPrefix, batch[0]!.seq, batch[batch.length - 1]!.seq, this.options.tombstoneTtlMs];
    const committed: number[] = [];
    for (const m of batch) {
      const parsed = EventHead.safeParse(m.json());
      if (!parsed.success) {
        // Cannot happen with events the relay wrote; the grant's key is removed outright.
        this.log.error({ code: LogCode.InvalidatorEventInvalid, seq: m.seq, subject: m.subject }, 'change event not understood; its cache key is dropped');
        await this.retry(() => this.redis.unlink(this.keys.grant(m.subject.slice(Subjects.grantChanged('').length))));
        continue;
      }
      args.push(parsed.data.id, parsed.data.version);
      committed.push(Date.parse(parsed.data.committedAt));
    }
    const result = await this.retry(() => this.redis.cacheInvalidate(this.keys.watermark, ...args));
    if (result === NO_WATERMARK) throw new Restart('reset');
    if (result !== APPLIED) {
      this.log.warn({ code: LogCode.InvalidatorRewound, watermark: result, batchFrom: batch[0]!.seq }, 'cache watermark is behind this invalidator (Redis restored from an older snapshot?); rewinding');
      throw new Restart(result + 1);
    }
    const now = Date.now();
    for (const at of committed) this.metrics.invalidationLag.observe(Math.max(0, now - at) / 1_000);
    this.position = batch[batch.length - 1]!.seq;
    this.metrics.invalidationWatermark.set(this.position);
  }

  /** Runs `op` until it succeeds (Redis away: retried with backoff), unless stopped. */
  private async retry<T>(op: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const value = await op();
        if (this.redisDown) {
          this.redisDown = false;
          this.log.info({ code: LogCode.CacheConnected }, 'invalidator reached Redis again');
        }
        return value;
      } catch (err) {
        if (this.stopped) throw err;
        if (!this.redisDown) {
          this.redisDown = true;
          this.log.warn({ code: LogCode.InvalidatorRedisError, err }, 'invalidator cannot reach Redis; retrying');
        }
        await this.pause(Math.min(100 * 2 ** attempt, 2_000));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiter = () => done();
      this.stopWaiters.push(waiter);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.stopWaiters = self.stopWaiters.filter((w) => w !== waiter);
        resolve();
      }
    });
  }
}
