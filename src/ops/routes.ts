/**
 * `GET /health` (no token) and `GET /metrics` (monitor or admin token): what monitors read
 * of a process (CONTRACT section 6).
 */
import type { RequestAuth } from '../auth/request.js';
import type { Router } from '../http/router.js';
import type { Metrics } from '../observability/metrics.js';
import { health, type HealthDeps } from './health.js';

export interface OpsRoutesDeps {
  health: HealthDeps;
  auth: RequestAuth;
  metrics: Metrics;
  /** Run before each scrape, to bring gauges that are read on demand up to date. */
  collect: readonly (() => void)[];
}

export function mountOpsRoutes(router: Router, deps: OpsRoutesDeps): void {
  router.get('/health', 'health', 0, () => health(deps.health));
  router.get('/metrics', 'metrics', 0, async (req) => {
    await deps.auth.monitor(req);
    for (const collect of deps.collect) collect();
    return { body: await deps.metrics.registry.metrics(), contentType: deps.metrics.registry.contentType, headers: { 'cache-control': 'no-store' } };
  });
}
