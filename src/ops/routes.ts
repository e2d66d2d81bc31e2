/**
 * `GET /health` (no token) and `GET /metrics` (monitor or admin token): what monitors read
 * of a process, mounted on every process's HTTP server (CONTRACT v1.1 sections 1 and 6).
 *
 * `/health` shows each check's status to anyone, and its details only with a monitor or
 * admin token; a missing or refused token is not an error there (the probe must work
 * without one). Before each `/metrics` answer the health checks run (their status feeds
 * `navimpact_health_check{check,status}`) and so do the collectors of gauges read on demand.
 */
import type { RequestAuth } from '../auth/request.js';
import { processRedactor } from '../config/redact.js';
import { HttpErrorCode } from '../domain/codes.js';
import { canReadMetrics } from '../domain/token.js';
import { HttpError } from '../http/errors.js';
import type { Request } from '../http/request.js';
import type { Router } from '../http/router.js';
import type { Metrics } from '../observability/metrics.js';
import { statusOnly, withinDeadline, type CheckStatus, type HealthChecks, type HealthReport } from './checks.js';

export interface OpsRoutesDeps {
  health: HealthChecks;
  /** Undefined when the process has no token verifier: `/metrics` is then refused (403). */
  auth: RequestAuth | undefined;
  metrics: Metrics;
  /** Run before each scrape, to bring gauges that are read on demand up to date. */
  collect: readonly (() => void | Promise<void>)[];
}

const STATUSES: readonly CheckStatus[] = ['ok', 'degraded', 'down'];
const NO_STORE = { 'cache-control': 'no-store' };

export function mountOpsRoutes(router: Router, deps: OpsRoutesDeps): void {
  router.get('/health', 'health', 0, async (req) => {
    const [report, detailed] = await Promise.all([deps.health.run(), mayReadDetails(req, deps.auth)]);
    const shown = detailed ? report : statusOnly(report);
    return {
      status: report.unavailable ? 503 : 200,
      headers: NO_STORE,
      // Details carry error text of the drivers: never the process's credentials (config/redact.ts).
      body: processRedactor.scrub(JSON.stringify({ status: shown.status, checks: shown.checks })),
    };
  });
  router.get('/metrics', 'metrics', 0, async (req) => {
    if (!deps.auth) throw new HttpError(403, HttpErrorCode.Forbidden, 'this process has no token verifier: set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL to read /metrics');
    await deps.auth.monitor(req);
    // A collector that fails or hangs (NATS away) leaves its gauges as they were: the
    // health series say why.
    const [report] = await Promise.all([deps.health.run(), ...deps.collect.map((collect) => withinDeadline(Promise.resolve().then(collect)).catch(() => undefined))]);
    recordHealth(deps.metrics, report);
    return { body: await deps.metrics.registry.metrics(), contentType: deps.metrics.registry.contentType, headers: NO_STORE };
  });
}

/** True for a request with a valid monitor or admin token; never throws. */
async function mayReadDetails(req: Request, auth: RequestAuth | undefined): Promise<boolean> {
  if (!auth || !req.header('authorization')) return false;
  try {
    return canReadMetrics((await auth.principal(req)).role);
  } catch {
    return false;
  }
}

function recordHealth(metrics: Metrics, report: HealthReport): void {
  for (const [check, result] of Object.entries(report.checks)) {
    for (const status of STATUSES) metrics.healthCheck.set({ check, status }, result.status === status ? 1 : 0);
  }
}
