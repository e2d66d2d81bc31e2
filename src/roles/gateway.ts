/**
 * The `gateway` role: the process's HTTP server with the WebSocket gateway, the REST
 * routes, `/health` and `/metrics`, all fed by one feed of stream GRANTS.
 *
 * # Order of the feed's listeners
 * The cache side (freshness, the in-process layer, REST's recent events) hears of each
 * event before the gateway publishes it: a client that reads a grant after hearing of its
 * change never gets the older version from this process's in-process layer.
 */
import { RequestAuth } from '../auth/request.js';
import { createTokenVerifier } from '../auth/verifier.js';
import { Freshness } from '../cache/freshness.js';
import { LOCAL_MAX_CHARS, LocalGrants } from '../cache/local.js';
import { GrantCache, fillWindowMs } from '../cache/store.js';
import { LogCode } from '../domain/codes.js';
import { GrantFeed } from '../feed/grants-feed.js';
import { Gateway } from '../gateway/gateway.js';
import { Cors } from '../http/cors.js';
import { Router } from '../http/router.js';
import { HttpServer } from '../http/server.js';
import { mountOpsRoutes } from '../ops/routes.js';
import { ScraperWatch } from '../ops/scrapers.js';
import { Rest } from '../rest/index.js';
import type { RoleContext, RunningRole } from './context.js';

export interface GatewayRole extends RunningRole {
  port: number;
  gateway: Gateway;
  rest: Rest;
}

export interface GatewayHooks {
  /** Tests only: runs between a database read and its cache fill (widens the stale-set race). */
  beforeFill?: () => Promise<void>;
}

export async function startGateway(ctx: RoleContext, hooks: GatewayHooks = {}): Promise<GatewayRole> {
  const { config, nc, pool, metrics } = ctx;
  const log = ctx.log.child({ role: 'gateway' });
  const verifier = await createTokenVerifier({
    secret: config.JWT_SECRET,
    publicKey: config.JWT_PUBLIC_KEY,
    jwksUrl: config.JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });
  const http = new HttpServer();
  const feed = new GrantFeed(nc, { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, log, metrics);
  const freshness = new Freshness({ boundMs: config.CACHE_INVALIDATION_BOUND });
  const cache = new GrantCache(config.REDIS_URL, { prefix: config.CACHE_PREFIX, ttlMs: config.CACHE_TTL, tombstoneTtlMs: config.CACHE_TOMBSTONE_TTL }, freshness, log, metrics);
  const local =
    config.CACHE_LOCAL_ENTRIES > 0
      ? new LocalGrants({
          maxEntries: config.CACHE_LOCAL_ENTRIES,
          maxChars: LOCAL_MAX_CHARS,
          ttlMs: config.CACHE_TTL,
          windowMs: fillWindowMs(config.CACHE_TOMBSTONE_TTL),
          live: () => feed.live,
        })
      : undefined;
  const auth = new RequestAuth(verifier, (reason) => metrics.wsAuthFailures.inc({ reason }));
  const router = new Router(http.app, { cors: new Cors(config.CORS_ORIGINS), log, metrics });
  const rest = new Rest({ maxLimit: config.REST_MAX_LIMIT }, { pool, feed, cache, local, auth, metrics, ...hooks });
  rest.mount(router);
  const scrapers = new ScraperWatch(nc, config.SCRAPER_STALE_AFTER, log, metrics);
  mountOpsRoutes(router, {
    health: { pool, nc, cache, scrapers, freshness },
    auth,
    metrics,
    collect: [() => scrapers.report(), () => metrics.longPollsWaiting.set(rest.waiting)],
  });
  const gateway = new Gateway(config, { app: http.app, feed, verifier, log, metrics });

  feed.onEvent((item) => {
    freshness.observe(item.seq);
    // A message that is not a valid change event blocks every fill of its grant for the window.
    local?.changed(item.id.toLowerCase(), item.change?.version ?? Number.MAX_SAFE_INTEGER);
    rest.onEvent(item);
  });
  feed.onEvent((item) => gateway.dispatch(item));
  await feed.start();
  freshness.start(feed.head);
  rest.started();
  scrapers.start();
  cache.start();
  const port = await http.listen(config.HOST, config.PORT, config.HTTP_REUSE_PORT);
  gateway.start();
  log.info({ code: LogCode.GatewayListening, host: config.HOST, port }, 'gateway listening');

  return {
    port,
    gateway,
    rest,
    async stop() {
      // New upgrades are refused (503) and clients closed over SHUTDOWN_DRAIN; REST still
      // answers meanwhile. Then the port closes.
      await gateway.drain(config.SHUTDOWN_DRAIN);
      http.close();
      gateway.stop();
      rest.stop();
      scrapers.stop();
      await cache.stop();
      await feed.stop();
    },
  };
}
