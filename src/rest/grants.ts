/**
 * `GET /v1/grants` and `GET /v1/grants/:id` (CONTRACT section 6), read through the cache.
 *
 * # The `seq` of a page
 * A page and the stream position it is consistent with are read by one SQL statement, so
 * from one snapshot: `relay_state.stream_seq` is moved by the relay in the same transaction
 * that removes the published changes from the log. Every event up to `seq` is in the page;
 * an event after `seq` may already be in it too (committed, and not yet published or not yet
 * recorded: the relay records a batch with its next read), and then
 * carries a version the page already has. A client that subscribes with `since=seq` and
 * applies an event only when its version is above the one it holds ends with exactly the
 * database (docs/rest.md).
 *
 * # Order and cursor
 * Pages are in `id` order, and the cursor is the last id of the page (opaque, base64url).
 * An id never changes, so concurrent updates neither repeat nor skip a row across pages.
 */
import type pg from 'pg';
import { z } from 'zod';
import { FilterError, canonicalQuery, parseFilter, type GrantFilter } from '../domain/filter.js';
import { GrantFromRow, GrantId, type GrantRow } from '../domain/grant.js';
import type { GrantCache } from '../cache/store.js';
import type { LocalGrants } from '../cache/local.js';
import { HttpErrorCode } from '../domain/codes.js';
import { HttpError } from '../http/errors.js';
import { describeIssues, parseQuery } from '../http/query.js';
import type { Reply, Request } from '../http/request.js';
import { filterSql } from './filter-sql.js';

const GRANT_COLUMNS = `g.id, g.source, g.external_id, g.title, g.description, g.agency, g.url, g.min_amount, g.max_amount,
  g.currency, g.open_date, g.close_date, g.status, g.categories, g.locations, g.vic_outcome_domain, g.version, g.updated_at`;

export function encodeCursor(id: string): string {
  return Buffer.from(`g1:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]{1,80}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const id = text.startsWith('g1:') ? text.slice(3) : '';
  if (!GrantId.safeParse(id).success) throw new HttpError(400, HttpErrorCode.InvalidCursor, 'cursor is not one this API issued');
  return id.toLowerCase();
}

/** The parameters of `GET /v1/grants` that are not the filter's. */
const PAGE_PARAMETERS = ['limit', 'cursor'] as const;

export const PageQuery = (maxLimit: number) =>
  z.object({
    limit: z
      .string()
      .regex(/^\d{1,6}$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(maxLimit))
      .default(50),
    cursor: z.string().transform(decodeCursor).optional(),
  });

/** Splits a query into the filter (domain/filter.ts, 400 `bad_filter` naming the parameter) and the page parameters. */
function splitQuery(query: string): { filter: GrantFilter; page: Record<string, string> } {
  const filterEntries: [string, string][] = [];
  const pageEntries: string[] = [];
  for (const [k, v] of new URLSearchParams(query)) {
    if ((PAGE_PARAMETERS as readonly string[]).includes(k)) pageEntries.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    else filterEntries.push([k, v]);
  }
  try {
    return { filter: parseFilter(filterEntries), page: parseQuery(pageEntries.join('&'), PAGE_PARAMETERS) };
  } catch (err) {
    if (err instanceof FilterError) throw new HttpError(400, HttpErrorCode.BadFilter, err.message);
    throw err;
  }
}

/**
 * The one statement of a page: up to `rows` grants after `cursor` matching `filter`, in id
 * order, each row with `relay_state.stream_seq` (one row with null grant columns when none
 * match). Exported so a test can EXPLAIN exactly what REST runs.
 */
export function pageSql(filter: GrantFilter, cursor: string | null, rows: number): { text: string; values: unknown[] } {
  const values: unknown[] = [cursor, rows];
  const text = `WITH s AS (SELECT stream_seq FROM relay_state)
       SELECT s.stream_seq, page.* FROM s LEFT JOIN LATERAL (
         SELECT ${GRANT_COLUMNS} FROM grants g
         WHERE ($1::uuid IS NULL OR g.id > $1) AND ${filterSql(filter, values)}
         ORDER BY g.id
         LIMIT $2
       ) page ON true`;
  return { text, values };
}

export interface GrantRoutesDeps {
  pool: pg.Pool;
  cache: GrantCache;
  /** The in-process layer, when enabled (CACHE_LOCAL_ENTRIES > 0). */
  local?: LocalGrants;
  maxLimit: number;
  onLocalHit?: () => void;
  /** Runs between the database read and the cache fill (tests widen the race window with it). */
  beforeFill?: () => Promise<void>;
}

export class GrantRoutes {
  private readonly pageQuery: ReturnType<typeof PageQuery>;

  constructor(private readonly deps: GrantRoutesDeps) {
    this.pageQuery = PageQuery(deps.maxLimit);
  }

  async list(req: Request): Promise<Reply> {
    const { filter, page } = splitQuery(req.query);
    const parsed = this.pageQuery.safeParse(page);
    if (!parsed.success) {
      const cursorIssue = parsed.error.issues.find((i) => i.path[0] === 'cursor');
      if (cursorIssue) throw new HttpError(400, HttpErrorCode.InvalidCursor, 'cursor is not one this API issued');
      throw new HttpError(400, HttpErrorCode.InvalidQuery, describeIssues(parsed.error.issues));
    }
    const query = parsed.data;
    const key = JSON.stringify([canonicalQuery(filter), query.limit, query.cursor ?? null]);
    const cached = await this.deps.cache.readList(key);
    if (cached) return { body: cached.json, headers: { 'cache-control': 'no-cache' } };

    const readAt = Date.now();
    const { text, values } = pageSql(filter, query.cursor ?? null, query.limit + 1);
    const result = await this.deps.pool.query<GrantRow & { stream_seq: string }>(text, values);
    const seq = Number(result.rows[0]!.stream_seq);
    const rows = result.rows.filter((r) => r.id !== null);
    const items = rows.slice(0, query.limit).map((row) => GrantFromRow.parse(row));
    const nextCursor = rows.length > query.limit ? encodeCursor(items[items.length - 1]!.id) : null;
    const json = JSON.stringify({ items, nextCursor, seq });
    await this.deps.beforeFill?.();
    await this.deps.cache.fillList(key, seq, json, readAt);
    return { body: json, headers: { 'cache-control': 'no-cache' } };
  }

  /** A grant held in this process is answered at once; otherwise from Redis, else Postgres. */
  byId(req: Request): Reply | Promise<Reply> {
    const id = req.params[0] ?? '';
    if (!GrantId.safeParse(id).success) throw new HttpError(400, HttpErrorCode.InvalidId, 'id must be a UUID');
    if (req.query !== '') parseQuery(req.query, []);
    const key = id.toLowerCase();
    const local = this.deps.local?.get(key);
    if (local) {
      this.deps.onLocalHit?.();
      return this.answer(req, local.version, local.json);
    }
    return this.read(req, key);
  }

  private async read(req: Request, key: string): Promise<Reply> {
    const lookedUp = Date.now();
    const cached = await this.deps.cache.readGrant(key);
    if (cached) {
      this.deps.local?.fill(key, cached.version, cached.json, lookedUp);
      return this.answer(req, cached.version, cached.json);
    }

    const readAt = Date.now();
    const result = await this.deps.pool.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants g WHERE g.id = $1`, [key]);
    const row = result.rows[0];
    if (!row) throw new HttpError(404, HttpErrorCode.NotFound, 'no grant with this id');
    const grant = GrantFromRow.parse(row);
    const json = JSON.stringify(grant);
    await this.deps.beforeFill?.();
    await this.deps.cache.fillGrant(key, grant.version, json, readAt);
    this.deps.local?.fill(key, grant.version, json, readAt);
    return this.answer(req, grant.version, json);
  }

  private answer(req: Request, version: number, json: string): Reply {
    const etag = `"${version}"`;
    const headers = { etag, 'cache-control': 'no-cache' };
    if (etagMatches(req.header('if-none-match'), etag)) return { status: 304, headers };
    return { body: json, headers };
  }
}

/** RFC 9110 If-None-Match: `*`, or a list of (possibly weak) entity tags. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
