/**
 * The fixed Postgres pool of a process. Dates leave Postgres as `YYYY-MM-DD` text (pg's
 * default would shift them through a local-time Date); numeric and bigint stay text and
 * are turned into numbers by the domain mapping, which knows their ranges.
 */
import pg from 'pg';
import type { Logger } from '../observability/log.js';
import { LogCode } from '../domain/codes.js';

const DATE_OID = 1082;

export const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === DATE_OID ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  url: string;
  size: number;
  applicationName: string;
  /**
   * Postgres `statement_timeout` of every connection of the pool (DATABASE_STATEMENT_TIMEOUT),
   * in ms; the server cancels a statement that runs longer (SQLSTATE 57014). 0 or unset: none.
   */
  statementTimeoutMs?: number;
  /** Longest wait for a connection before `query`/`connect` fail (default 10 s). */
  connectionTimeoutMs?: number;
}

/**
 * A pg.Pool that counts the statements sent through `pool.query` (what request paths use),
 * so an operator, and a test, can see that live events cost the database nothing. The
 * probes of `/health` and of gauges read at a scrape go through `probe`, uncounted: reading
 * the count must not move it.
 */
export class CountingPool extends pg.Pool {
  statements = 0;

  // pg's `query` has a dozen overloads; the counting wrapper keeps them all.
  override query = ((...args: unknown[]) => {
    this.statements++;
    return (pg.Pool.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
  }) as pg.Pool['query'];

  /** A monitoring statement, not counted in `statements`. */
  probe<R extends pg.QueryResultRow>(text: string): Promise<pg.QueryResult<R>> {
    return (pg.Pool.prototype.query as (text: string) => Promise<pg.QueryResult<R>>).call(this, text);
  }
}

/** What a monitoring probe needs of a pool. */
export type ProbePool = Pick<CountingPool, 'probe'>;

export function createPool(options: PoolOptions, log: Logger): CountingPool {
  const pool = new CountingPool({
    connectionString: options.url,
    max: options.size,
    application_name: options.applicationName,
    keepAlive: true,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    types: pgTypes,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client that loses its connection emits here; without a listener it would crash
  // the process. The pool discards the client and opens a new one on the next checkout.
  pool.on('error', (err) => log.warn({ code: LogCode.DatabaseUnreachable, err }, 'idle database connection lost'));
  return pool;
}

/** A dedicated connection outside the pool, for the relay's lock and the migrator. */
export function createClient(url: string, applicationName: string): pg.Client {
  return new pg.Client({ connectionString: url, application_name: applicationName, keepAlive: true, types: pgTypes, connectionTimeoutMillis: 10_000 });
}

/** `host:port/database` of a connection URL, for error messages (never the password). */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}
