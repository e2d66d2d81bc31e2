/**
 * JetStream streams of CONTRACT section 4, created or brought up to date at start-up.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { LogCode } from '../domain/codes.js';
import { Streams, Subjects } from '../domain/events.js';
import type { Logger } from '../observability/log.js';

/** Window in which JetStream drops a re-published message id as a duplicate. */
export const DUPLICATE_WINDOW_MS = 120_000;

export interface GrantsStreamOptions {
  maxAgeMs: number;
  /** When the stream has to be created, its first sequence (keeps `seq` rising after a loss). */
  firstSeq?: number;
}

export async function ensureGrantsStream(jsm: JetStreamManager, options: GrantsStreamOptions, log: Logger): Promise<void> {
  const wanted: Partial<StreamConfig> = {
    name: Streams.grants,
    subjects: [Subjects.grantChangedAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(options.maxAgeMs),
    duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, options.maxAgeMs)),
    num_replicas: 1,
    allow_direct: true,
  };
  let existing;
  try {
    existing = await jsm.streams.info(Streams.grants);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    try {
      await jsm.streams.add({ ...wanted, ...(options.firstSeq && options.firstSeq > 1 ? { first_seq: options.firstSeq } : {}) });
      log.info({ code: LogCode.StreamConfigured, stream: Streams.grants, firstSeq: options.firstSeq ?? 1 }, 'stream created');
      return;
    } catch (err) {
      // Another process created it between our look-up and our add: fall through and check it.
      existing = await jsm.streams.info(Streams.grants);
      if (!existing) throw err;
    }
  }
  const c = existing.config;
  if (c.max_age !== wanted.max_age || !c.subjects?.includes(Subjects.grantChangedAll) || c.duplicate_window !== wanted.duplicate_window) {
    await jsm.streams.update(Streams.grants, { ...c, max_age: wanted.max_age!, duplicate_window: wanted.duplicate_window!, subjects: wanted.subjects! });
    log.info({ code: LogCode.StreamConfigured, stream: Streams.grants }, 'stream updated');
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e?.code === '404' || e?.api_error?.err_code === 10059 || e?.api_error?.err_code === 10037 || /not found/i.test(e?.message ?? '');
}
