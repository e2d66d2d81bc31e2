/**
 * JetStream streams of CONTRACT section 4, created or brought up to date at start-up.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig, type StreamInfo } from 'nats';
import { LogCode } from '../domain/codes.js';
import { Streams, Subjects } from '../domain/events.js';
import { ScrapeSubjects } from '../domain/scrape-status.js';
import type { Logger } from '../observability/log.js';

/**
 * A stream that cannot be made as configured, such as NATS_STREAM_REPLICAS=3 against a
 * server that is not in a cluster (JetStream: "replicas > 1 not supported in non-clustered
 * mode"). The message names the stream and the settings.
 */
export class StreamConfigError extends Error {
  override name = 'StreamConfigError';
}

/** Window in which JetStream drops a re-published message id as a duplicate. */
export const DUPLICATE_WINDOW_MS = 120_000;

export interface GrantsStreamOptions {
  maxAgeMs: number;
  /** Copies JetStream keeps of the stream (NATS_STREAM_REPLICAS): 1 on one server, 3 on a cluster. */
  replicas: number;
}

export async function ensureGrantsStream(jsm: JetStreamManager, options: GrantsStreamOptions, log: Logger): Promise<void> {
  await ensureStream(
    jsm,
    {
      name: Streams.grants,
      subjects: [Subjects.grantChangedAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.maxAgeMs),
      duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, options.maxAgeMs)),
      num_replicas: options.replicas,
      allow_direct: true,
    },
    ['max_age', 'duplicate_window', 'subjects', 'num_replicas'],
    log,
  );
  // Whoever creates it, a stream created after a loss starts at 1: the relay then moves its
  // numbering past every `seq` ever issued before it publishes (docs/capture.md).
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e?.code === '404' || e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10037 || /not found/i.test(e?.message ?? '');
}

/** How long {@link streamInfo} asks again while a stream it was told exists is not found. */
export const STREAM_VISIBLE_WAIT_MS = 10_000;

/**
 * Information on a stream that was just created or changed. On a cluster, the server that
 * answers a stream request can lag the one that acknowledged the create: the meta leader
 * answers "stream not found" until it has applied the assignment it proposed (seen once in
 * CI, right after a create). Asked again, 100 ms apart, until `waitMs` has passed; any other
 * error, or a stream still missing at the end, is thrown.
 */
export async function streamInfo(jsm: JetStreamManager, name: string, waitMs = STREAM_VISIBLE_WAIT_MS): Promise<StreamInfo> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await jsm.streams.info(name);
    } catch (err) {
      if (!isNotFound(err) || Date.now() >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ScrapeStreamOptions {
  /** Window in which a re-published `Nats-Msg-Id` is dropped (SCRAPE_DUPLICATE_WINDOW). */
  duplicateWindowMs: number;
  /** Bytes SCRAPE holds before refusing new records (SCRAPE_MAX_BYTES). */
  maxBytes: number;
  /** Largest record SCRAPE accepts, payload and headers (SCRAPE_MAX_RECORD_BYTES). */
  maxRecordBytes: number;
  /** Records SCRAPE holds for one source, one subject (SCRAPE_MAX_PER_SOURCE). */
  maxPerSource: number;
  /** How long SCRAPE_REJECTED keeps rejections (SCRAPE_REJECTED_MAX_AGE). */
  rejectedMaxAgeMs: number;
  /** Copies JetStream keeps of each stream (NATS_STREAM_REPLICAS). */
  replicas: number;
}

/**
 * Streams of the scrape side (CONTRACT section 4), created or brought up to date; safe to
 * call from every ingest process (and from scrapers) at once.
 *
 * - `SCRAPE` on `scrape.grants.>`: work-queue retention, so a record is kept exactly until
 *   ingest acknowledges it (committed or rejected) and no age limit can drop an
 *   un-ingested one. When full it refuses new records (`discard: new`): a scraper sees the
 *   error, nothing queued is lost. Duplicate window for `Nats-Msg-Id` configurable.
 *   Quotas, so that one source cannot take the stream from the others: each source is one
 *   subject, and holds at most `maxPerSource` records (`max_msgs_per_subject` with
 *   `discard_new_per_subject`: that source's next record is refused, the others' are not);
 *   a record is at most `maxRecordBytes` (`max_msg_size`). JetStream has no per-subject byte
 *   limit: a source's bytes are bounded by the product of the two.
 * - `SCRAPE_REJECTED` on `scrape.rejected.>`: limits retention by age, for inspection;
 *   ingest publishes each rejection with a message id derived from the record's SCRAPE
 *   sequence, so a redelivered record is not rejected twice.
 */
export async function ensureScrapeStreams(jsm: JetStreamManager, options: ScrapeStreamOptions, log: Logger): Promise<void> {
  const window = Math.min(options.duplicateWindowMs, 24 * 3_600_000);
  await ensureStream(
    jsm,
    {
      name: Streams.scrape,
      subjects: [ScrapeSubjects.grantsAll],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_bytes: options.maxBytes,
      max_msg_size: options.maxRecordBytes,
      max_msgs_per_subject: options.maxPerSource,
      discard_new_per_subject: true,
      duplicate_window: nanos(window),
      num_replicas: options.replicas,
    },
    ['max_bytes', 'max_msg_size', 'max_msgs_per_subject', 'discard_new_per_subject', 'duplicate_window', 'num_replicas'],
    log,
  );
  await ensureStream(
    jsm,
    {
      name: Streams.scrapeRejected,
      subjects: [ScrapeSubjects.rejectedAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.rejectedMaxAgeMs),
      duplicate_window: nanos(Math.min(window, options.rejectedMaxAgeMs)),
      num_replicas: options.replicas,
    },
    ['max_age', 'duplicate_window', 'num_replicas'],
    log,
  );
}

/**
 * Creates stream `wanted.name`, or brings the `tunable` settings of the existing one up to
 * date (others, like retention, cannot change in place; the replica count can, on a cluster).
 * Safe to call from many processes at once.
 */
async function ensureStream(
  jsm: JetStreamManager,
  wanted: Partial<StreamConfig> & { name: string },
  tunable: (keyof StreamConfig)[],
  log: Logger,
): Promise<void> {
  let existing;
  try {
    existing = await jsm.streams.info(wanted.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    try {
      await jsm.streams.add(wanted);
      log.info({ code: LogCode.StreamConfigured, stream: wanted.name }, 'stream created');
      return;
    } catch (err) {
      // Created meanwhile by another process: fall through and compare. (JetStream's
      // "stream name already in use", 10058: the stream exists even if the server that
      // answers next has not applied it yet, so it is waited for.)
      const inUse = (err as { api_error?: { err_code?: number } }).api_error?.err_code === 10058;
      existing = await streamInfo(jsm, wanted.name, inUse ? STREAM_VISIBLE_WAIT_MS : 0).catch(() => undefined);
      if (!existing) throw new StreamConfigError(`cannot create stream ${wanted.name} (${wanted.num_replicas} replicas): ${(err as Error).message}`, { cause: err });
    }
  }
  const c = existing.config as StreamConfig;
  // Settings are numbers, strings or arrays of subjects: compared by value.
  const changed = tunable.filter((key) => JSON.stringify(c[key]) !== JSON.stringify(wanted[key]));
  if (changed.length > 0) {
    const update: Partial<StreamConfig> = { ...c };
    for (const key of changed) (update as Record<string, unknown>)[key] = wanted[key];
    try {
      // A replica count changes in place on a cluster (JetStream copies the stream to the
      // new peers); a single server refuses more than one.
      await jsm.streams.update(wanted.name, update);
    } catch (err) {
      throw new StreamConfigError(`cannot update stream ${wanted.name} (${changed.join(', ')}): ${(err as Error).message}`, { cause: err });
    }
    log.info({ code: LogCode.StreamConfigured, stream: wanted.name, changed }, 'stream updated');
  }
}
