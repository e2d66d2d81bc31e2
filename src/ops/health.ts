/**
 * `GET /health` (CONTRACT section 6; no token): 200 with `status` `ok` or `degraded`, or
 * 503 when Postgres or NATS cannot be reached (the service cannot answer or stay live
 * without them). Redis away, the relay behind, or a scraper not up make it `degraded`:
 * requests are still answered, from Postgres. Each check has its own deadline, so a hung
 * dependency makes the check fail rather than the probe hang.
 */
import type pg from 'pg';
import type { NatsConnection } from 'nats';
import type { Freshness } from '../cache/freshness.js';
import type { GrantCache } from '../cache/store.js';
import type { Reply } from '../http/request.js';
import type { ScraperWatch } from './scrapers.js';

const CHECK_TIMEOUT_MS = 1_000;
/** The relay counts as behind when a change has waited longer than this to be published. */
export const RELAY_BEHIND_SECONDS = 10;

type Check = { status: 'ok' | 'degraded' | 'down'; [detail: string]: unknown };

function within<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function timed(check: () => Promise<Check>): Promise<Check> {
  const started = performance.now();
  try {
    const result = await within(check());
    return { ...result, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { status: 'down', error: (err as Error).message };
  }
}

export interface HealthDeps {
  pool: pg.Pool;
  nc: NatsConnection;
  cache: GrantCache;
  scrapers: ScraperWatch;
  freshness: Freshness;
}

export async function health(deps: HealthDeps): Promise<Reply> {
  const [database, relay, nats, redis] = await Promise.all([
    timed(async () => {
      await deps.pool.query('SELECT 1');
      return { status: 'ok' };
    }),
    timed(async () => {
      const { rows } = await deps.pool.query<{ pending: number; oldest: number | null }>(
        `SELECT count(*)::int AS pending, extract(epoch FROM clock_timestamp() - min(changed_at))::float8 AS oldest FROM grant_changes`,
      );
      const { pending, oldest } = rows[0]!;
      return { status: oldest !== null && oldest > RELAY_BEHIND_SECONDS ? 'degraded' : 'ok', pending, oldestPendingSeconds: oldest };
    }),
    timed(async () => {
      if (deps.nc.isClosed()) throw new Error('connection closed');
      await deps.nc.rtt();
      return { status: 'ok' };
    }),
    timed(async () => {
      if (!(await deps.cache.ping())) return { status: 'degraded', error: 'Redis unreachable; serving from Postgres' };
      // Cached grants are only served once the invalidator has caught up (docs/cache.md).
      const watermark = await deps.cache.watermark();
      const required = deps.freshness.required();
      if (watermark === null) return { status: 'degraded', watermark, error: 'no invalidation watermark: is an invalidator running?' };
      if (watermark < required) return { status: 'degraded', watermark, required, error: 'the invalidator is behind; serving from Postgres' };
      return { status: 'ok', watermark };
    }),
  ]);
  const sources = deps.scrapers.report();
  const scrapers: Check = { status: Object.values(sources).every((s) => s.up) ? 'ok' : 'degraded', sources };
  if (relay.status === 'down') relay.status = 'degraded';
  const checks = { database, redis, nats, relay, scrapers };
  const unavailable = database.status === 'down' || nats.status === 'down';
  const degraded = Object.values(checks).some((c) => c.status !== 'ok');
  return {
    status: unavailable ? 503 : 200,
    headers: { 'cache-control': 'no-store' },
    body: JSON.stringify({ status: degraded ? 'degraded' : 'ok', checks }),
  };
}
