/**
 * The `invalidator` role: applies every change event of stream GRANTS to the Redis cache, in
 * stream order, and nothing else (docs/cache.md). Its I/O is two interfaces
 * (invalidation-store.ts): the cache it writes and the stream it reads.
 *
 * # Durability
 * Its position is the cache's watermark, kept in Redis and advanced by the same script that
 * applies the batch (scripts.ts INVALIDATE). After a crash it resumes at watermark + 1; after
 * Redis is restored from an older snapshot, the script refuses the next batch (it does not
 * start at or before watermark + 1) and the invalidator rewinds to where that snapshot
 * was. A NATS durable consumer would keep a position that is right for NATS but wrong for a
 * Redis that lost writes; this one cannot disagree with the data it describes.
 * When its read of the stream ends by itself (the reader's consumer was lost with a NATS
 * node or restart, bus/stream-reader.ts), it reads on from the position.
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
 * refused after that), deletes again, and sets the watermark to the stream's head. The
 * same happens when the stream's numbering jumps past the position (the relay moved it
 * forward after a loss or a restore, docs/capture.md): seen at the next event, or, when
 * none comes, by comparing the stream's first sequence with the position every
 * CONTINUITY_CHECK_MS.
 */
import { z } from 'zod';
import { LogCode } from '../domain/codes.js';
import { ChangeOp, Subjects } from '../domain/events.js';
import { GrantId } from '../domain/grant.js';
import { retry, sleep } from '../lifecycle/retry.js';
import type { Logger } from '../observability/log.js';
import { reportRetrying } from '../observability/sentry.js';
import type { Metrics } from '../observability/metrics.js';
import type { ChangeSource, InvalidationStore, StreamMessage } from './invalidation-store.js';

export interface InvalidatorOptions {
  /** Most events applied in one script call. */
  batchSize: number;
  /** The fill window (store.ts fillWindowMs): how long a reset waits between its two deletions. */
  fillWindowMs: number;
}

/** What the invalidator needs of a change event; the rest of the payload is not parsed into objects. */
const EventHead = z.object({ op: ChangeOp, id: GrantId, version: z.number().int().positive(), committedAt: z.string() });

/** Redis retries: the first after at most this long, then doubling up to the cap. */
const RETRY = { baseMs: 100, maxMs: 2_000 };
/** Pause after an unexpected failure of the loop before it starts over. */
const RESTART_MS = 1_000;
/** Extra wait past the fill window during a reset, for clock granularity. */
const RESET_MARGIN_MS = 100;
/** While reading, how often the stream's first sequence is compared with the position. */
export const CONTINUITY_CHECK_MS = 1_000;

const decoder = new TextDecoder();
const SUBJECT_PREFIX = Subjects.grantChanged('');

class Restart extends Error {
  constructor(readonly from: number | 'reset') {
    super('restart');
  }
}

export class Invalidator {
  private readonly stopping = new AbortController();
  private reading: { stop(): void } | undefined;
  private running: Promise<void> | undefined;
  private storeDown = false;
  /** Sequence up to which this invalidator applied every event (-1 before the first). */
  position = -1;

  constructor(
    private readonly store: InvalidationStore,
    private readonly source: ChangeSource,
    private readonly options: InvalidatorOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Starts the loop; `stop` ends it. */
  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.reading?.stop();
    await this.running;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
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
        await sleep(RESTART_MS, this.stopping.signal);
      }
    }
  }

  /** Where to start: watermark + 1, or 'reset' when the stream no longer holds that far back. */
  private async resumePoint(): Promise<number | 'reset'> {
    const watermark = await this.withStore(() => this.store.watermark());
    const { first, last } = await this.source.bounds();
    if (watermark === null || watermark + 1 < first) return 'reset';
    this.log.info({ code: LogCode.InvalidatorResumed, from: watermark + 1, head: last }, 'invalidator resumes at the cache watermark');
    return watermark + 1;
  }

  private async reset(): Promise<number> {
    const head = (await this.source.bounds()).last;
    const first = await this.withStore(() => this.store.deleteAll());
    await sleep(this.options.fillWindowMs + RESET_MARGIN_MS, this.stopping.signal);
    const second = await this.withStore(() => this.store.deleteAll());
    await this.withStore(() => this.store.resetWatermark(head));
    this.log.warn({ code: LogCode.InvalidatorReset, watermark: head, deleted: first + second }, 'cache emptied: it had no watermark, or one older than stream GRANTS holds');
    return head + 1;
  }

  private async consume(from: number): Promise<void> {
    const reading = await this.source.read(from);
    this.reading = reading;
    if (this.stopped) reading.stop();
    this.position = from - 1;
    let batch: StreamMessage[] = [];
    let broke = false;
    // No event may come for a long time after the stream jumped: look at its start.
    const check = setInterval(() => {
      this.source.bounds().then(
        ({ first }) => {
          if (batch.length > 0 || first <= this.position + 1) return;
          broke = true;
          reading.stop();
        },
        () => undefined,
      );
    }, CONTINUITY_CHECK_MS);
    try {
      for await (const m of reading.messages) {
        if (batch.length === 0 && m.seq > this.position + 1) {
          // The stream dropped events this invalidator had not applied (older than GRANTS keeps).
          throw new Restart('reset');
        }
        batch.push(m);
        if (batch.length >= this.options.batchSize || m.pending === 0) {
          await this.apply(batch);
          batch = [];
        }
      }
      if (broke && !this.stopped) throw new Restart('reset');
      if (!this.stopped) {
        // The source ended by itself (its consumer could not go on): read on from the
        // position, after a pause when this read applied nothing.
        if (this.position < from) await sleep(RESTART_MS, this.stopping.signal);
        throw new Restart(this.position + 1);
      }
    } finally {
      clearInterval(check);
      reading.stop();
    }
  }

  private async apply(batch: readonly StreamMessage[]): Promise<void> {
    const changes: [string, number][] = [];
    const committed: number[] = [];
    for (const m of batch) {
      const parsed = EventHead.safeParse(parseJson(m.data));
      if (!parsed.success) {
        // Cannot happen with events the relay wrote; the grant's key is removed outright.
        this.log.error({ code: LogCode.InvalidatorEventInvalid, seq: m.seq, subject: m.subject }, 'change event not understood; its cache key is dropped');
        await this.withStore(() => this.store.drop(m.subject.slice(SUBJECT_PREFIX.length)));
        continue;
      }
      changes.push([parsed.data.id, parsed.data.version]);
      committed.push(Date.parse(parsed.data.committedAt));
    }
    const first = batch[0]!.seq;
    const last = batch[batch.length - 1]!.seq;
    const result = await this.withStore(() => this.store.invalidate(first, last, changes));
    if (result.kind === 'no_watermark') throw new Restart('reset');
    if (result.kind === 'behind') {
      this.log.warn({ code: LogCode.InvalidatorRewound, watermark: result.watermark, batchFrom: first }, 'cache watermark is behind this invalidator (Redis restored from an older snapshot?); rewinding');
      throw new Restart(result.watermark + 1);
    }
    const now = Date.now();
    for (const at of committed) this.metrics.invalidationLag.observe(Math.max(0, now - at) / 1_000);
    this.position = last;
    this.metrics.invalidationWatermark.set(this.position);
  }

  /** Runs `op` on the store until it succeeds (Redis away: retried with backoff), unless stopped. */
  private async withStore<T>(op: () => Promise<T>): Promise<T> {
    const value = await retry(op, {
      ...RETRY,
      signal: this.stopping.signal,
      onRetry: (err, attempt) => {
        reportRetrying(err, LogCode.InvalidatorRedisError, attempt);
        if (this.storeDown) return;
        this.storeDown = true;
        this.log.warn({ code: LogCode.InvalidatorRedisError, err }, 'invalidator cannot reach Redis; retrying');
      },
    });
    if (this.storeDown) {
      this.storeDown = false;
      this.log.info({ code: LogCode.CacheConnected }, 'invalidator reached Redis again');
    }
    return value;
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
}
