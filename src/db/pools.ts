/**
 * The pools of one process, one per role that reads or writes through a pool, plus a small
 * one for monitoring (issue 10 item 3: the database pool could be starved from outside).
 *
 * # Why one pool per role
 * In the all-in-one process the gateway's REST reads and ingest's upserts used to share one
 * pool: 200 slow searches held every connection and ingest waited behind them. Each role now
 * has its own fixed pool (GATEWAY_POOL_SIZE, INGEST_POOL_SIZE, both DATABASE_POOL_SIZE
 * unless set), so load on one can never take another's connections. The relay needs none:
 * it works on two dedicated connections of its own (capture/relay.ts). Pools open
 * connections on demand, so a pool larger than its role's concurrency costs nothing.
 *
 * # Monitoring
 * `/health`'s probes and the gauges read at a scrape go through `monitor` (monitor.ts), which
 * no request or batch uses: a probe never queues behind traffic.
 *
 * Every pool but the monitor's is a CountingPool: `navimpact_db_statements_total` sums them.
 */
import type { Logger } from '../observability/log.js';
import { MonitorPool } from './monitor.js';
import { createPool, type CountingPool } from './pool.js';

/** The roles that have a pool of their own. */
export const POOL_ROLES = ['gateway', 'ingest'] as const;
export type PoolRole = (typeof POOL_ROLES)[number];

export interface RolePoolsOptions {
  url: string;
  /** Connections of each role's pool. */
  sizes: Readonly<Record<PoolRole, number>>;
  /** DATABASE_STATEMENT_TIMEOUT, in ms (0: none). */
  statementTimeoutMs: number;
  /** Prefix of each connection's `application_name` (`<prefix>-<role>`). */
  applicationName: string;
}

/** What the pools report, for `/health`'s details. */
export interface PoolStats {
  size: number;
  open: number;
  inUse: number;
  waiting: number;
}

export class RolePools {
  private readonly pools = new Map<PoolRole, CountingPool>();
  /** Probes of `/health` and gauges: never behind traffic. */
  readonly monitor: MonitorPool;

  constructor(
    private readonly options: RolePoolsOptions,
    private readonly log: Logger,
    /** Called once for each pool made (main reports it in the metrics). */
    private readonly onCreate: (pool: CountingPool, role: PoolRole) => void = () => undefined,
  ) {
    this.monitor = new MonitorPool(options.url, `${options.applicationName}-monitor`, log);
  }

  /** The pool of `role`, made on first use. */
  for(role: PoolRole): CountingPool {
    let pool = this.pools.get(role);
    if (!pool) {
      const { url, sizes, statementTimeoutMs, applicationName } = this.options;
      // A REST request waits for a connection at most as long as a statement may run (then
      // 503 busy); ingest's workers wait for their own pool as long as pg's default allows.
      const wait = role === 'gateway' && statementTimeoutMs > 0 ? statementTimeoutMs : undefined;
      pool = createPool({ url, size: sizes[role], applicationName: `${applicationName}-${role}`, statementTimeoutMs, ...(wait ? { connectionTimeoutMs: wait } : {}) }, this.log);
      this.pools.set(role, pool);
      this.onCreate(pool, role);
    }
    return pool;
  }

  /** Each pool made so far: its size, connections open, in use, and requests waiting. */
  stats(): Partial<Record<PoolRole, PoolStats>> {
    const out: Partial<Record<PoolRole, PoolStats>> = {};
    for (const [role, pool] of this.pools) {
      out[role] = { size: pool.options.max ?? 0, open: pool.totalCount, inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount };
    }
    return out;
  }

  async end(): Promise<void> {
    await Promise.all([...[...this.pools.values()].map((p) => p.end()), this.monitor.end()]);
  }
}
