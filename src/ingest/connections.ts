/**
 * Checking a connection out of the process's fixed pool, and saying so when that had to
 * wait: the pool never grows past INGEST_POOL_SIZE however many scrapers publish, so
 * waiting is how overload shows, and it is logged (DatabasePoolWaiting, at most once per
 * interval) besides the `navimpact_db_pool_connections{state="waiting"}` gauge.
 */
import type pg from 'pg';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';

/** A wait longer than this counts as waiting. */
const WAIT_THRESHOLD_MS = 50;
const LOG_INTERVAL_MS = 10_000;

export class Connections {
  private lastLogged = 0;
  private waitsSinceLog = 0;
  private longestWaitMs = 0;
  /** Highest number of connections this process had checked out at once. */
  peakInUse = 0;

  constructor(
    readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  /**
   * A connection for one unit of work. `release` must be called once; pass the error that
   * broke the connection, if any, so the pool discards it instead of reusing it.
   */
  async checkout(): Promise<Checkout> {
    const started = performance.now();
    const max = this.pool.options.max ?? Infinity;
    const full = this.pool.totalCount >= max && this.pool.idleCount === 0;
    const client = await this.pool.connect();
    const waited = performance.now() - started;
    const inUse = this.pool.totalCount - this.pool.idleCount;
    if (inUse > this.peakInUse) this.peakInUse = inUse;
    if (full && waited >= WAIT_THRESHOLD_MS) this.waited(waited, inUse);
    // A checked-out client has no listener of the pool's: a connection that dies between
    // two queries would otherwise emit an unhandled 'error' and end the process.
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost = err;
      this.log.warn({ code: LogCode.DatabaseUnreachable, err }, 'database connection lost while in use');
    };
    client.on('error', onError);
    return {
      client,
      release: (err?: Error) => {
        client.off('error', onError);
        client.release(err ?? lost);
      },
    };
  }

  private waited(waitedMs: number, inUse: number): void {
    this.waitsSinceLog++;
    this.longestWaitMs = Math.max(this.longestWaitMs, waitedMs);
    const now = Date.now();
    if (now - this.lastLogged < LOG_INTERVAL_MS) return;
    this.log.warn(
      {
        code: LogCode.DatabasePoolWaiting,
        waits: this.waitsSinceLog,
        longestWaitMs: Math.round(this.longestWaitMs),
        poolSize: this.pool.options.max,
        inUse,
        waiting: this.pool.waitingCount,
      },
      'requests waited for a database connection (pool at its fixed size)',
    );
    this.lastLogged = now;
    this.waitsSinceLog = 0;
    this.longestWaitMs = 0;
  }
}

export interface Checkout {
  client: pg.PoolClient;
  release(err?: Error): void;
}
