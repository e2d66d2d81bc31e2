/** What main hands every role: the configuration, the process's shared connections, and its HTTP face. */
import type { NatsConnection } from 'nats';
import type { RolePools } from '../db/pools.js';
import type { RequestAuth } from '../auth/request.js';
import type { TokenVerifier } from '../auth/verifier.js';
import type { Config } from '../config/schema.js';
import type { HttpServer } from '../http/server.js';
import type { Router } from '../http/router.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { HealthChecks } from '../ops/checks.js';

/** The configuration and the connections one process shares between its roles. */
export interface ProcessParts {
  config: Config;
  log: Logger;
  nc: NatsConnection;
  /** Each role's own pool, and the monitoring pool of `/health` (db/pools.ts). */
  pools: RolePools;
  metrics: Metrics;
}

export interface RoleContext extends ProcessParts {
  /** The process's one HTTP server on HOST:PORT (CONTRACT v1.1 section 1); it listens once every role started. */
  http: HttpServer;
  router: Router;
  /** The checks of `/health`: each role adds those of what it needs. */
  health: HealthChecks;
  /** The process's token verifier; undefined when no key is configured (config/schema.ts). */
  verifier: TokenVerifier | undefined;
  /** Bearer tokens on HTTP routes, with `verifier`; undefined with it. */
  auth: RequestAuth | undefined;
  /** Adds a collector run before each `/metrics` answer (gauges read on demand). */
  collect(collector: () => void | Promise<void>): void;
}

/** A started role: main stops it on shutdown, before the connections it used. */
export interface RunningRole {
  stop(): Promise<void>;
  /** Called once the process's HTTP server listens. */
  listening?(port: number): void;
}
