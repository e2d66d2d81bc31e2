/**
 * From scrape messages to a plan for one batch, without I/O: each message decoded and
 * normalised, rejections collected with the record as received, and the valid records
 * collapsed to one per (source, externalId) — the last one received wins — and sorted, so
 * that one upsert can take them all (Postgres refuses a statement that would update the
 * same row twice) and concurrent ingest processes lock rows in the same order.
 */
import type { GrantInput, RecordError } from '../domain/scraped.js';
import { normaliseRecord } from '../normalise/record.js';

export const SCRAPE_PREFIX = 'scrape.grants.';

export interface ScrapeMessage {
  subject: string;
  data: Uint8Array;
  /** Stream sequence in SCRAPE: names the record in its rejection's message id. */
  seq: number;
}

export interface Rejection {
  source: string;
  seq: number;
  /** The record as received: parsed JSON, or the payload text when it was not JSON. */
  record: unknown;
  errors: RecordError[];
}

/** A valid record, with where it came from (for a rejection should the database refuse it). */
export interface PlannedRow {
  grant: GrantInput;
  seq: number;
  received: unknown;
}

export interface BatchPlan {
  /** One per (source, externalId), sorted by them. */
  rows: PlannedRow[];
  /** Valid records superseded by a later one of the same key in this batch. */
  duplicates: number;
  rejections: Rejection[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function sourceOf(subject: string): string {
  return subject.startsWith(SCRAPE_PREFIX) ? subject.slice(SCRAPE_PREFIX.length) : subject;
}

export function planBatch(messages: readonly ScrapeMessage[], today = new Date().toISOString().slice(0, 10)): BatchPlan {
  const byKey = new Map<string, PlannedRow>();
  const rejections: Rejection[] = [];
  let valid = 0;
  for (const m of messages) {
    const source = sourceOf(m.subject);
    let text: string;
    try {
      text = decoder.decode(m.data);
    } catch {
      rejections.push({ source, seq: m.seq, record: Buffer.from(m.data).toString('base64'), errors: [{ path: '', message: 'must be UTF-8 JSON (the record is shown base64-encoded)' }] });
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      rejections.push({ source, seq: m.seq, record: text, errors: [{ path: '', message: `must be JSON: ${(err as Error).message}` }] });
      continue;
    }
    const result = normaliseRecord(parsed, source, { today });
    if (!result.ok) {
      rejections.push({ source, seq: m.seq, record: parsed, errors: result.errors });
      continue;
    }
    valid++;
    const key = `${result.record.source}\u0000${result.record.externalId}`;
    // Delete first so the key's position follows its last copy (the map keeps insertion order).
    byKey.delete(key);
    byKey.set(key, { grant: result.record, seq: m.seq, received: parsed });
  }
  const rows = [...byKey.values()].sort((a, b) => compare(a.grant.source, b.grant.source) || compare(a.grant.externalId, b.grant.externalId));
  return { rows, duplicates: valid - rows.length, rejections };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
