/**
 * The `ingest` role: scrape records from stream SCRAPE into `grants`.
 *
 * # Flow
 * Each of INGEST_CONCURRENCY workers pulls from the one durable consumer `ingest` (shared by
 * every ingest process: JetStream hands each record to one of them) and takes up to
 * INGEST_BATCH_SIZE records, waiting at most INGEST_LINGER for a batch to fill. Per batch:
 * decode and normalise (decode.ts); one upsert of the valid records on one pooled
 * connection (upsert.ts); publish the rejections to `scrape.rejected.<source>` and wait for
 * JetStream to store them; only then acknowledge every record of the batch.
 *
 * # Why nothing is lost or doubled
 * - A record is acknowledged only after its row is committed or its rejection stored. A
 *   crash before that leaves it unacknowledged and JetStream redelivers it after
 *   INGEST_ACK_WAIT; a crash after the commit but before the ack redelivers a record whose
 *   row is already equal, which the upsert leaves untouched (no write, no change event).
 * - A rejection carries a message id made of the record's SCRAPE sequence and a hash, so a
 *   redelivered record is not rejected twice within the duplicate window.
 * - On a transient database error (connection lost, server restarting, deadlock) the
 *   batch is held and retried with exponential backoff and full jitter (lifecycle/retry.ts), up to
 *   INGEST_RETRY_MAX between tries, for as long as it takes; meanwhile its records are
 *   marked in progress so JetStream does not hand them to another process.
 * - A data error (the database refusing a row that passed normalisation) would fail every
 *   retry: the batch is then written row by row and the refused rows are rejected.
 *
 * # Concurrency
 * Each worker holds at most one pool connection, and only while writing; the pool has
 * INGEST_POOL_SIZE connections whatever INGEST_CONCURRENCY is (workers beyond it wait,
 * which is logged as DatabasePoolWaiting). Rows are upserted in (source, external_id)
 * order so two ingest processes writing the same keys cannot deadlock on each other.
 */
import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamClient, type JsMsg, type NatsConnection } from 'nats';
import type pg from 'pg';
import { LogCode } from '../domain/codes.js';
import { Streams } from '../domain/events.js';
import { ScrapeSubjects } from '../domain/scrape-status.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { PULL_EXPIRES_MS } from '../bus/nats.js';
import { ensureScrapeStreams, isNotFound } from '../bus/streams.js';
import { backoffDelay } from '../domain/backoff.js';
import { retry, sleep } from '../lifecycle/retry.js';
import { reportRetrying } from '../observability/sentry.js';
import { Connections } from './connections.js';
import { planBatch, type BatchPlan, type Rejection } from './decode.js';
import { countQuality } from './quality.js';
import { rejectionPayload } from './rejections.js';
import { isDataError, upsertGrants, type UpsertCounts } from './upsert.js';

export const DURABLE = 'ingest';
/** Records handed out and not yet acknowledged, over all ingest processes. */
const MAX_ACK_PENDING = 20_000;
/** nats-server's default max_payload, for a connection that has not told us its own. */
const NATS_DEFAULT_MAX_PAYLOAD = 1_048_576;
/** Room left in a rejection message for its headers and envelope. */
const REJECTION_HEADROOM_BYTES = 4_096;
/** Ceiling of the first retry delay; the cap is INGEST_RETRY_MAX. */
const FIRST_RETRY_MS = 100;

export interface IngestOptions {
  batchSize: number;
  concurrency: number;
  lingerMs: number;
  ackWaitMs: number;
  retryMaxMs: number;
  duplicateWindowMs: number;
  maxBytes: number;
  maxRecordBytes: number;
  maxPerSource: number;
  /** INGEST_MAX_BYTES: the bytes of one pull, and of one batch. */
  pullMaxBytes: number;
  rejectedMaxAgeMs: number;
  /** NATS_STREAM_REPLICAS. */
  replicas: number;
}

export interface BatchOutcome extends UpsertCounts {
  duplicates: number;
  rejected: number;
}

const TIMEOUT = Symbol('timeout');

export class Ingest {
  private running = false;
  private readonly stopping = new AbortController();
  private readonly subscriptions = new Set<ConsumerMessages>();
  private workers: Promise<void>[] = [];
  private readonly js: JetStreamClient;
  readonly connections: Connections;

  constructor(
    private readonly options: IngestOptions,
    private readonly nc: NatsConnection,
    pool: pg.Pool,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.js = nc.jetstream();
    this.connections = new Connections(pool, log);
  }

  async start(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureScrapeStreams(
      jsm,
      {
        duplicateWindowMs: this.options.duplicateWindowMs,
        maxBytes: this.options.maxBytes,
        maxRecordBytes: this.options.maxRecordBytes,
        maxPerSource: this.options.maxPerSource,
        rejectedMaxAgeMs: this.options.rejectedMaxAgeMs,
        replicas: this.options.replicas,
      },
      this.log,
    );
    await this.ensureConsumer();
    this.running = true;
    this.workers = Array.from({ length: this.options.concurrency }, (_, i) => this.work(i));
  }

  /** Stops taking records; a batch being written finishes (or, while retrying, is left unacknowledged for redelivery). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopping.abort();
    for (const s of this.subscriptions) s.stop();
    await Promise.all(this.workers);
  }

  private async ensureConsumer(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    const wanted = {
      durable_name: DURABLE,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.options.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: MAX_ACK_PENDING,
      filter_subject: ScrapeSubjects.grantsAll,
    };
    let existing;
    try {
      existing = await jsm.consumers.info(Streams.scrape, DURABLE);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!existing) {
      try {
        await jsm.consumers.add(Streams.scrape, wanted);
        return;
      } catch (err) {
        existing = await jsm.consumers.info(Streams.scrape, DURABLE).catch(() => undefined);
        if (!existing) throw err;
      }
    }
    if (existing.config.ack_wait !== wanted.ack_wait || existing.config.max_ack_pending !== wanted.max_ack_pending) {
      await jsm.consumers.update(Streams.scrape, DURABLE, { ack_wait: wanted.ack_wait, max_ack_pending: wanted.max_ack_pending });
    }
  }

  private async work(worker: number): Promise<void> {
    let failures = 0;
    while (this.running) {
      let messages: ConsumerMessages | undefined;
      try {
        const consumer = await this.js.consumers.get(Streams.scrape, DURABLE);
        // Pulls are bounded by bytes, not by count: JetStream sends at most pullMaxBytes per
        // pull (and nats.js at most 100 records), and nats.js asks for more only as this
        // worker takes what it holds, so a worker holds about two pulls' worth at most.
        messages = await consumer.consume({ max_bytes: this.options.pullMaxBytes, expires: PULL_EXPIRES_MS });
        this.subscriptions.add(messages);
        if (!this.running) messages.stop();
        await this.drain(messages);
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures++;
        const delayMs = backoffDelay(failures - 1, { baseMs: FIRST_RETRY_MS, maxMs: this.options.retryMaxMs });
        this.log.warn({ code: LogCode.IngestConsumerRestarted, worker, attempt: failures, delayMs, err }, 'ingest consumer failed; restarting it');
        reportRetrying(err, LogCode.IngestConsumerRestarted, failures);
        await sleep(delayMs, this.stopping.signal);
      } finally {
        if (messages) {
          this.subscriptions.delete(messages);
          messages.stop();
        }
      }
    }
  }

  /**
   * Takes batches from one consume() subscription until it ends. A batch closes at
   * INGEST_BATCH_SIZE records, at INGEST_MAX_BYTES of payload (a record that would cross it
   * starts the next batch), or when INGEST_LINGER has passed.
   */
  private async drain(messages: ConsumerMessages): Promise<void> {
    const it = messages[Symbol.asyncIterator]();
    let next = it.next();
    let carried: JsMsg | undefined;
    while (this.running) {
      let head = carried;
      carried = undefined;
      if (!head) {
        const first = await next;
        if (first.done) return;
        head = first.value;
        next = it.next();
      }
      const batch: JsMsg[] = [head];
      let bytes = head.data.length;
      let ended = false;
      const deadline = performance.now() + this.options.lingerMs;
      while (batch.length < this.options.batchSize) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) break;
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([next, new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(resolve, remaining, TIMEOUT)))]);
        clearTimeout(timer);
        if (r === TIMEOUT) break;
        if (r.done) {
          ended = true;
          break;
        }
        next = it.next();
        if (bytes + r.value.data.length > this.options.pullMaxBytes) {
          carried = r.value;
          break;
        }
        batch.push(r.value);
        bytes += r.value.data.length;
      }
      await this.process(batch);
      if (ended) return;
    }
  }

  /** One batch, end to end. Returns undefined when stopped before it was acknowledged. */
  async process(batch: readonly JsMsg[]): Promise<BatchOutcome | undefined> {
    const started = performance.now();
    const plan = planBatch(batch.map((m) => ({ subject: m.subject, data: m.data, seq: m.seq })));
    const written = await this.retrying('write', batch, () => this.write(plan));
    if (!written) return undefined;
    const rejections = [...plan.rejections, ...written.refused];
    const published = await this.retrying('reject', batch, () => this.publishRejections(rejections));
    if (!published) return undefined;
    for (const m of batch) m.ack();
    const { inserted, updated, unchanged } = written.counts;
    const outcome = { inserted, updated, unchanged, duplicates: plan.duplicates, rejected: rejections.length };
    const records = this.metrics.ingestRecords;
    if (inserted) records.inc({ result: 'inserted' }, inserted);
    if (updated) records.inc({ result: 'updated' }, updated);
    if (unchanged) records.inc({ result: 'unchanged' }, unchanged);
    if (plan.duplicates) records.inc({ result: 'duplicate' }, plan.duplicates);
    if (rejections.length) records.inc({ result: 'rejected' }, rejections.length);
    countQuality(this.metrics, batch.map((m) => m.subject), rejections);
    this.metrics.ingestBatchSeconds.observe((performance.now() - started) / 1000);
    this.log.debug({ batch: batch.length, bytes: batch.reduce((n, m) => n + m.data.length, 0), ...outcome }, 'batch ingested');
    return outcome;
  }

  private async write(plan: BatchPlan): Promise<{ counts: UpsertCounts; refused: Rejection[] }> {
    if (plan.rows.length === 0) return { counts: { inserted: 0, updated: 0, unchanged: 0 }, refused: [] };
    const { client, release } = await this.connections.checkout();
    let broken: Error | undefined;
    try {
      try {
        return { counts: await upsertGrants(client, plan.rows.map((r) => r.grant)), refused: [] };
      } catch (err) {
        if (!isDataError(err)) throw err;
      }
      // Some row broke a database rule that normalisation let through: find it, one by one.
      const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0 };
      const refused: Rejection[] = [];
      for (const row of plan.rows) {
        try {
          const c = await upsertGrants(client, [row.grant]);
          counts.inserted += c.inserted;
          counts.updated += c.updated;
          counts.unchanged += c.unchanged;
        } catch (err) {
          if (!isDataError(err)) throw err;
          const e = err as { code?: string; message?: string; column?: string; constraint?: string };
          this.log.warn({ code: LogCode.IngestRowRefused, source: row.grant.source, externalId: row.grant.externalId, pgCode: e.code, constraint: e.constraint, err }, 'database refused a normalised record; rejected');
          refused.push({
            source: row.grant.source,
            seq: row.seq,
            record: row.received,
            errors: [{ path: e.column ?? '', message: `refused by the database: ${e.message ?? e.code}` }],
          });
        }
      }
      return { counts, refused };
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      // A connection that failed is discarded, not returned to the pool.
      release(broken && !isDataError(broken) ? broken : undefined);
    }
  }

  private async publishRejections(rejections: readonly Rejection[]): Promise<true> {
    if (rejections.length === 0) return true;
    const maxBytes = (this.nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD) - REJECTION_HEADROOM_BYTES;
    await Promise.all(
      rejections.map((r) => {
        const payload = rejectionPayload(r.record, r.errors, maxBytes);
        this.log.debug({ code: LogCode.IngestRecordRejected, source: r.source, seq: r.seq, errors: r.errors }, 'record rejected');
        const id = `${r.seq}-${createHash('sha1').update(payload).digest('hex').slice(0, 16)}`;
        return this.js.publish(ScrapeSubjects.rejected(r.source), payload, { msgID: id, timeout: 10_000 });
      }),
    );
    return true;
  }

  /**
   * Runs `step` until it succeeds, with backoff; while retrying keeps the batch's records
   * marked in progress. Undefined when the role stops first (the records stay unacknowledged).
   */
  private async retrying<T>(step: 'write' | 'reject', batch: readonly JsMsg[], run: () => Promise<T>): Promise<T | undefined> {
    let tries = 0;
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const result = await retry(
        () => {
          tries++;
          return run();
        },
        {
          baseMs: FIRST_RETRY_MS,
          maxMs: this.options.retryMaxMs,
          signal: this.stopping.signal,
          onRetry: (err, attempt, delayMs) => {
            reportRetrying(err, step === 'write' ? LogCode.IngestBatchRetry : LogCode.IngestRejectPublishFailed, attempt, { records: batch.length });
            heartbeat ??= setInterval(() => batch.forEach((m) => m.working()), Math.max(500, this.options.ackWaitMs / 3));
            this.log.warn(
              { code: step === 'write' ? LogCode.IngestBatchRetry : LogCode.IngestRejectPublishFailed, attempt, delayMs, records: batch.length, err },
              step === 'write' ? 'batch not written; retrying' : 'rejections not published; retrying',
            );
          },
        },
      );
      if (tries > 1) this.log.info({ code: LogCode.IngestBatchRecovered, step, attempts: tries, records: batch.length }, 'batch went through after retries');
      return result;
    } catch (err) {
      // `retry` gives up only when the role stops: the records stay unacknowledged.
      if (!this.running) return undefined;
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
  }
}
