/**
 * The monitoring pool of a process: what `/health`'s checks and the gauges read at a scrape
 * send to Postgres (issue 10 item 3). Two connections that no request or batch ever uses,
 * kept open once made (so a probe needs no free connection slot on a server at its
 * `max_connections`).
 *
 * # A probe never outlives its deadline
 * Each connection runs with `statement_timeout` MONITOR_STATEMENT_TIMEOUT_MS, so Postgres
 * itself cancels a probe that runs longer (a lock, a server overloaded): nothing keeps
 * running after `/health` gave up. Waiting for a connection is bounded by the same time,
 * and a probe whose answer does not come back at all (a network gone silent) is abandoned
 * after a short grace and its connection destroyed, never handed to the next probe.
 * Probes are not counted in `navimpact_db_statements_total`: reading the count must not
 * move it.
 */
import pg from 'pg';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { pgTypes } from './pool.js';

/** Postgres cancels a probe after this long (under `/health`'s 1 s deadline per check, ops/checks.ts). */
export const MONITOR_STATEMENT_TIMEOUT_MS = 900;
/** A probe with no answer this long after its statement timeout is abandoned with its connection. */
const GRACE_MS = 100;
const CONNECTIONS = 2;

export class MonitorPool {
  private readonly pool: pg.Pool;

  constructor(url: string, applicationName: string, log: Logger) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: CONNECTIONS,
      application_name: applicationName,
      keepAlive: true,
      connectionTimeoutMillis: MONITOR_STATEMENT_TIMEOUT_MS,
      idleTimeoutMillis: 0,
      statement_timeout: MONITOR_STATEMENT_TIMEOUT_MS,
      types: pgTypes,
    });
    this.pool.on('error', (err) => log.warn({ code: LogCode.DatabaseUnreachable, err }, 'idle monitoring connection lost'));
  }

  /** Runs a monitoring statement; rejects once Postgres cancelled it or its deadline passed. */
  async probe<R extends pg.QueryResultRow>(text: string): Promise<pg.QueryResult<R>> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        client.query<R>(text),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject((broken = new Error(`no answer within ${MONITOR_STATEMENT_TIMEOUT_MS + GRACE_MS} ms`))), MONITOR_STATEMENT_TIMEOUT_MS + GRACE_MS);
        }),
      ]);
    } catch (err) {
      // A server error (with a SQLSTATE, e.g. the statement timeout) leaves the connection
      // usable; anything else (the connection failed) discards it.
      if (typeof (err as { code?: unknown }).code !== 'string') broken ??= err as Error;
      throw err;
    } finally {
      clearTimeout(timer);
      client.release(broken);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}
