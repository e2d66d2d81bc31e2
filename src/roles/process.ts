/**
 * The HTTP face every process has, whatever its roles (CONTRACT v1.1 section 1): one
 * server on HOST:PORT with `/health` and `/metrics`, on which the gateway role mounts the
 * WebSocket gateway and REST. Built before the roles start (they add their routes, health
 * checks and collectors to it) and listening once they all did.
 *
 * The checks every process gets here: `nats`, and `database` when a role of the process
 * uses Postgres (all but the invalidator), both critical, probed through the process's
 * monitoring pool (db/monitor.ts), never behind the roles' traffic; `relay` (the change log's backlog)
 * for a gateway without a relay in its process (the relay role adds its own, with its
 * leadership).
 */
import { RequestAuth } from '../auth/request.js';
import { createTokenVerifier, type TokenVerifier } from '../auth/verifier.js';
import type { Config } from '../config/schema.js';
import { LogCode } from '../domain/codes.js';
import { Cors } from '../http/cors.js';
import { Router } from '../http/router.js';
import { HttpServer } from '../http/server.js';
import { HealthChecks } from '../ops/checks.js';
import { databaseCheck, natsCheck, relayCheck } from '../ops/health.js';
import { mountOpsRoutes } from '../ops/routes.js';
import type { ProcessParts, RoleContext } from './context.js';

export interface ProcessServer {
  /** What each role of the process starts with. */
  context: RoleContext;
  /** Listens on HOST:PORT; resolves with the port. */
  listen(): Promise<number>;
  /** Stops accepting connections. Idempotent. */
  close(): void;
}

/** Whether the configuration names a key to verify tokens with. */
export function hasTokenKey(config: Config): boolean {
  return config.JWT_SECRET !== undefined || config.JWT_PUBLIC_KEY !== undefined || config.JWKS_URL !== undefined;
}

export async function createProcessServer(parts: ProcessParts): Promise<ProcessServer> {
  const { config, log, nc, pools, metrics } = parts;
  let verifier: TokenVerifier | undefined;
  if (hasTokenKey(config)) {
    verifier = await createTokenVerifier({
      secret: config.JWT_SECRET,
      publicKey: config.JWT_PUBLIC_KEY,
      jwksUrl: config.JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      maxLifetimeMs: config.JWT_MAX_TTL,
    });
  } else {
    log.warn({ code: LogCode.MetricsLocked }, 'no JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL: /metrics of this process is refused (403) and /health shows statuses only');
  }
  const auth = verifier ? new RequestAuth(verifier, (reason) => metrics.wsAuthFailures.inc({ reason })) : undefined;
  const http = new HttpServer();
  const router = new Router(http.app, { cors: new Cors(config.CORS_ORIGINS), log, metrics });
  const health = new HealthChecks();
  const roles = new Set(config.ROLES);
  health.add('nats', natsCheck(nc));
  if (roles.has('gateway') || roles.has('relay') || roles.has('ingest')) health.add('database', databaseCheck(pools.monitor, () => pools.stats()));
  if (roles.has('gateway') && !roles.has('relay')) health.add('relay', relayCheck(pools.monitor));
  const collectors: (() => void | Promise<void>)[] = [];
  mountOpsRoutes(router, { health, auth, metrics, collect: collectors });
  return {
    context: { ...parts, http, router, health, verifier, auth, collect: (collector) => collectors.push(collector) },
    async listen() {
      const port = await http.listen(config.HOST, config.PORT, config.HTTP_REUSE_PORT);
      log.info({ code: LogCode.HttpListening, host: config.HOST, port, roles: config.ROLES }, 'listening for /health, /metrics and the routes of its roles');
      return port;
    },
    close: () => http.close(),
  };
}
