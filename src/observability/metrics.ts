/**
 * Prometheus metrics (prom-client), one registry per process. Every series is created in
 * every process (series.ts), so code can update it unconditionally, but only the series of
 * the process itself and of the roles it runs are registered: a relay's `/metrics` shows
 * relay series, not idle gateway ones (CONTRACT v1.1 section 1). Names of CONTRACT
 * section 6 are fixed.
 */
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { gatewaySeries, ingestSeries, invalidatorSeries, processSeries, relaySeries, Tally, type WatchedPool } from './series.js';

export type { WatchedPool } from './series.js';

/** The roles whose series a registry can carry (config/schema.ts ROLES). */
export type MetricsRole = 'gateway' | 'relay' | 'invalidator' | 'ingest';
const ALL_ROLES: readonly MetricsRole[] = ['gateway', 'relay', 'invalidator', 'ingest'];

/**
 * The process's registry with its own series and those of `roles` (all of them by default,
 * as tests that run a part in-process expect).
 */
export function createMetrics(roles: readonly MetricsRole[] = ALL_ROLES) {
  const registry = new Registry();
  const watchedPools: WatchedPool[] = [];
  collectDefaultMetrics({ register: registry, prefix: 'navimpact_process_' });
  const groups = {
    process: processSeries(watchedPools),
    relay: relaySeries(),
    gateway: gatewaySeries(),
    invalidator: invalidatorSeries(),
    ingest: ingestSeries(),
  };
  const register = (group: Record<string, Metric | Tally<string>>) => {
    // A Tally is read by its series' collect; the series is what is registered.
    for (const metric of Object.values(group)) if (!(metric instanceof Tally)) registry.registerMetric(metric);
  };
  register(groups.process);
  for (const role of new Set(roles)) register(groups[role]);
  groups.process.startTime.set(Math.floor(Date.now() / 1_000 - process.uptime()));
  return {
    registry,
    ...groups.process,
    ...groups.relay,
    ...groups.gateway,
    ...groups.invalidator,
    ...groups.ingest,
    /** Reports `pool` in `navimpact_db_pool_connections`. */
    watchPool(pool: WatchedPool): void {
      if (!watchedPools.includes(pool)) watchedPools.push(pool);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
