/**
 * What ingest publishes on `scrape.rejected.<source>` (CONTRACT section 4):
 * `{ "record": <as received>, "errors": [{ "path", "message" }] }`.
 *
 * A rejection must fit one NATS message. When the record as received would not (a
 * 1 MB description is exactly the kind of record that gets rejected), its long strings are
 * cut to their first 1,000 characters and `"truncated": true` is added beside `record`.
 */
import type { RecordError } from '../domain/scraped.js';

export const CUT_TO = 1_000;

export function rejectionPayload(record: unknown, errors: readonly RecordError[], maxBytes: number): string {
  const full = JSON.stringify({ record, errors });
  if (Buffer.byteLength(full) <= maxBytes) return full;
  const cut = JSON.stringify({ record: truncate(record, 0), errors, truncated: true });
  if (Buffer.byteLength(cut) <= maxBytes) return cut;
  return JSON.stringify({ record: null, errors, truncated: true });
}

function truncate(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.length > CUT_TO ? `${value.slice(0, CUT_TO)}…` : value;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => truncate(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 100)
      .map(([k, v]) => [k.slice(0, CUT_TO), truncate(v, depth + 1)]),
  );
}
