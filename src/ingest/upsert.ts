/**
 * The one write of ingest: a batch of normalised records upserted on (source,
 * external_id) in one statement, writing a row only when its content differs, so an
 * unchanged re-scrape leaves `version` alone and makes no change event (the capture
 * trigger fires only when the version moves).
 *
 * The whole batch travels as one JSON parameter (`jsonb_to_recordset`), which keeps the
 * statement the same whatever the batch size (one plan, no 65,535-parameter limit) and
 * carries the array columns that `unnest` cannot.
 */
import type pg from 'pg';
import type { GrantInput } from '../domain/scraped.js';

/** The content columns: what a scraper decides. `id`, `version` and the stamps are the database's. */
const COLUMNS = [
  ['source', 'text'],
  ['external_id', 'text'],
  ['title', 'text'],
  ['description', 'text'],
  ['agency', 'text'],
  ['url', 'text'],
  ['min_amount', 'numeric'],
  ['max_amount', 'numeric'],
  ['currency', 'text'],
  ['open_date', 'date'],
  ['close_date', 'date'],
  ['status', 'text'],
  ['categories', 'text[]'],
  ['locations', 'text[]'],
  ['vic_outcome_domain', 'text'],
] as const;

const names = COLUMNS.map(([name]) => name);
const updatable = names.filter((n) => n !== 'source' && n !== 'external_id');

export const UPSERT_SQL = `
INSERT INTO grants AS g (${names.join(', ')})
SELECT ${names.join(', ')}
  FROM jsonb_to_recordset($1::jsonb) AS r(${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})
 ORDER BY source, external_id
ON CONFLICT (source, external_id) DO UPDATE
   SET ${updatable.map((n) => `${n} = EXCLUDED.${n}`).join(', ')}
 WHERE (${updatable.map((n) => `g.${n}`).join(', ')}) IS DISTINCT FROM (${updatable.map((n) => `EXCLUDED.${n}`).join(', ')})
RETURNING (xmax = 0) AS inserted`;

export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

export function toJsonRows(rows: readonly GrantInput[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      source: r.source,
      external_id: r.externalId,
      title: r.title,
      description: r.description,
      agency: r.agency,
      url: r.url,
      min_amount: r.minAmount,
      max_amount: r.maxAmount,
      currency: r.currency,
      open_date: r.openDate,
      close_date: r.closeDate,
      status: r.status,
      categories: r.categories,
      locations: r.locations,
      vic_outcome_domain: r.vicOutcomeDomain,
    })),
  );
}

/** Upserts `rows` (at most one per key) in one statement, committed when it returns. */
export async function upsertGrants(client: pg.ClientBase, rows: readonly GrantInput[]): Promise<UpsertCounts> {
  if (rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  const { rows: written } = await client.query<{ inserted: boolean }>({ name: 'ingest_upsert', text: UPSERT_SQL, values: [toJsonRows(rows)] });
  const inserted = written.filter((w) => w.inserted).length;
  return { inserted, updated: written.length - inserted, unchanged: rows.length - written.length };
}

/**
 * An error about the data of some row (classes 21 cardinality, 22 data exception, 23 integrity
 * violation): retrying the same batch would fail the same way, so ingest isolates the
 * row instead. Anything else (connection lost, server shutting down, deadlock,
 * serialisation, too many connections) is treated as transient and retried.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^2[123]/.test(code);
}
