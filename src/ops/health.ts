/**
 * The checks `/health` runs (checks.ts), one factory per dependency or role. Postgres and
 * NATS are critical (CONTRACT section 6: 503 when either cannot be reached); the others
 * make the answer `degraded`: Redis away or the invalidator behind (requests are answered
 * from Postgres), the relay behind or standing by, a scraper not up, the gateway's feed
 * stopped, ingest unable to read its consumer.
 */
import type { ProbePool } from '../db/pool.js';
import type { NatsConnection } from 'nats';
import type { Freshness } from '../cache/freshness.js';
import type { GrantCache } from '../cache/store.js';
import type { ChangeFeed } from '../feed/types.js';
import type { CheckResult, HealthCheck } from './checks.js';
import type { ScraperWatch } from './scrapers.js';

/** The relay counts as behind when a change has waited longer than this to be published. */
export const RELAY_BEHIND_SECONDS = 10;
/** The invalidator counts as behind when the oldest event it has not applied is older than this. */
export const INVALIDATOR_BEHIND_SECONDS = 10;

/**
 * `database`: a round trip through the process's monitoring pool (never behind the roles'
 * traffic, cancelled by Postgres past its deadline: db/monitor.ts). Critical. Monitors also
 * see each role's pool: size, open, in use, and requests waiting for a connection.
 */
export function databaseCheck(pool: ProbePool, pools?: () => Record<string, unknown>): HealthCheck {
  return {
    critical: true,
    async run() {
      await pool.probe('SELECT 1');
      return { status: 'ok', ...(pools ? { pools: pools() } : {}) };
    },
  };
}

/** `nats`: the connection is open and answers a ping. Critical. */
export function natsCheck(nc: NatsConnection): HealthCheck {
  return {
    critical: true,
    async run() {
      if (nc.isClosed()) throw new Error('connection closed');
      await nc.rtt();
      return { status: 'ok', server: nc.getServer() };
    },
  };
}

/** The change log's backlog: how many changes wait to be published, and for how long. */
export async function relayBacklog(pool: ProbePool): Promise<{ pending: number; oldestSeconds: number | null }> {
  const { rows } = await pool.probe<{ pending: number; oldest: number | null }>(
    `SELECT count(*)::int AS pending, extract(epoch FROM clock_timestamp() - min(changed_at))::float8 AS oldest FROM grant_changes`,
  );
  return { pending: rows[0]!.pending, oldestSeconds: rows[0]!.oldest };
}

/**
 * `relay`: the change log's backlog, degraded when a change waited more than
 * RELAY_BEHIND_SECONDS; in a relay process also whether this one leads or stands by.
 */
export function relayCheck(pool: ProbePool, leading?: () => boolean): HealthCheck {
  return {
    critical: false,
    async run() {
      const { pending, oldestSeconds } = await relayBacklog(pool);
      const behind = oldestSeconds !== null && oldestSeconds > RELAY_BEHIND_SECONDS;
      return {
        status: behind ? 'degraded' : 'ok',
        pending,
        oldestPendingSeconds: oldestSeconds,
        ...(leading ? { role: leading() ? 'leader' : 'standby' } : {}),
      };
    },
  };
}

/** `redis`: the cache is reachable and its watermark covers what this gateway must reflect (docs/cache.md). */
export function cacheCheck(cache: GrantCache, freshness: Freshness): HealthCheck {
  return {
    critical: false,
    async run(): Promise<CheckResult> {
      if (!(await cache.ping())) return { status: 'degraded', error: 'Redis unreachable; serving from Postgres' };
      const watermark = await cache.watermark();
      const required = freshness.required();
      if (watermark === null) return { status: 'degraded', watermark, error: 'no invalidation watermark: is an invalidator running?' };
      if (watermark < required) return { status: 'degraded', watermark, required, error: 'the invalidator is behind; serving from Postgres' };
      return { status: 'ok', watermark };
    },
  };
}

/** `scrapers`: every source this gateway heard of is up (ops/scrapers.ts). */
export function scrapersCheck(scrapers: ScraperWatch): HealthCheck {
  return {
    critical: false,
    async run() {
      const sources = scrapers.report();
      return { status: Object.values(sources).every((s) => s.up) ? 'ok' : 'degraded', sources };
    },
  };
}

/** `feed`: this gateway's feed of stream GRANTS delivers events. */
export function feedCheck(feed: ChangeFeed): HealthCheck {
  return {
    critical: false,
    async run() {
      return feed.live ? { status: 'ok', head: feed.head } : { status: 'degraded', head: feed.head, error: 'the feed of stream GRANTS stopped: live views are not updated' };
    },
  };
}

/** What the invalidator check reads (roles/invalidator.ts builds it). */
export interface InvalidatorProbe {
  /** Watermark in Redis; throws when Redis cannot be reached. */
  watermark(): Promise<number | null>;
  /** Events not yet applied, and the age in seconds of the oldest of them. */
  lag(): Promise<{ behind: number; seconds: number }>;
}

/** `invalidator`: Redis reachable, and the oldest event not applied younger than INVALIDATOR_BEHIND_SECONDS. */
export function invalidatorCheck(probe: InvalidatorProbe): HealthCheck {
  return {
    critical: false,
    async run(): Promise<CheckResult> {
      let watermark: number | null;
      try {
        watermark = await probe.watermark();
      } catch (err) {
        return { status: 'degraded', error: `Redis unreachable: ${(err as Error).message}` };
      }
      const { behind, seconds } = await probe.lag();
      return { status: seconds > INVALIDATOR_BEHIND_SECONDS ? 'degraded' : 'ok', watermark, behindEvents: behind, lagSeconds: seconds };
    },
  };
}

/** `ingest`: the records waiting in its consumer of stream SCRAPE. */
export function ingestCheck(pending: () => Promise<{ waiting: number; inFlight: number }>): HealthCheck {
  return {
    critical: false,
    async run() {
      const { waiting, inFlight } = await pending();
      return { status: 'ok', waitingRecords: waiting, inFlightRecords: inFlight };
    },
  };
}
