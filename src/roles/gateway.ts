/**
 * The `gateway` role: the WebSocket gateway and the REST routes on the process's HTTP
 * server, all fed by one feed of stream GRANTS, with their health checks (`redis`,
 * `scrapers`, `feed`) and series.
 *
 * # Order of the feed's listeners
 * First the continuity check (a break in the stream's numbering resets what this process
 * serves before anyone hears of the event that revealed it). Then the cache side
 * (freshness, the in-process layer, REST's recent events) hears of each event before the
 * gateway publishes it: a client that reads a grant after hearing of its change never gets
 * the older version from this process's in-process layer.
 *
 * # A break in the stream
 * After the relay moved stream GRANTS forward (a lost stream, a restored stream or database;
 * docs/capture.md), this process forgets what it derived from the older numbering: the
 * in-process layer and REST's recent events are emptied, the Redis cache is not trusted
 * until the invalidator's watermark reaches the new numbering (it resets the cache), and
 * every client is closed with 1001; they resume with `since` and get `recovered:false`.
 */
import { Freshness } from '../cache/freshness.js';
import { LOCAL_MAX_CHARS, LocalGrants } from '../cache/local.js';
import { GrantCache, fillWindowMs } from '../cache/store.js';
import { LogCode } from '../domain/codes.js';
import { FeedContinuity } from '../feed/continuity.js';
import { GrantFeed } from '../feed/grants-feed.js';
import { Gateway } from '../gateway/gateway.js';
import { Pages } from '../gateway/pages.js';
import { cacheCheck, feedCheck, scrapersCheck } from '../ops/health.js';
import { ScraperWatch } from '../ops/scrapers.js';
import { Rest } from '../rest/index.js';
import type { RoleContext, RunningRole } from './context.js';

export interface GatewayRole extends RunningRole {
  gateway: Gateway;
  rest: Rest;
}

export interface GatewayHooks {
  /** Tests only: runs between a database read and its cache fill (widens the stale-set race). */
  beforeFill?: () => Promise<void>;
}

export async function startGateway(ctx: RoleContext, hooks: GatewayHooks = {}): Promise<GatewayRole> {
  const { config, nc, metrics, verifier, auth } = ctx;
  const pool = ctx.pools.for('gateway');
  // config/schema.ts requires a key whenever the gateway role runs.
  if (!verifier || !auth) throw new Error('the gateway role needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL');
  const log = ctx.log.child({ role: 'gateway' });
  const feed = new GrantFeed(nc, { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, log, metrics, config.GATEWAY_REPLAY_WINDOW);
  const freshness = new Freshness({ boundMs: config.CACHE_INVALIDATION_BOUND });
  const cache = new GrantCache(config.REDIS_URL, { prefix: config.CACHE_PREFIX, ttlMs: config.CACHE_TTL, tombstoneTtlMs: config.CACHE_TOMBSTONE_TTL, listMaxPages: config.CACHE_LIST_MAX_PAGES }, freshness, log, metrics);
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
  const rest = new Rest({ maxLimit: config.REST_MAX_LIMIT, rateLimit: config.REST_RATE_LIMIT }, { pool, feed, cache, local, auth, metrics, ...hooks });
  rest.mount(ctx.router);
  const scrapers = new ScraperWatch(nc, { staleAfterMs: config.SCRAPER_STALE_AFTER, forgetAfterMs: config.SCRAPER_FORGET_AFTER }, log, metrics);
  const gateway = new Gateway(config, { app: ctx.http.app, feed, verifier, log, metrics });
  new Pages(config, log).mount(ctx.http.app);
  ctx.health.add('redis', cacheCheck(cache, freshness));
  ctx.health.add('scrapers', scrapersCheck(scrapers));
  ctx.health.add('feed', feedCheck(feed));
  ctx.collect(() => {
    scrapers.report();
    metrics.longPollsWaiting.set(rest.waiting);
    metrics.feedLive.set(feed.live ? 1 : 0);
    metrics.feedHead.set(feed.head);
  });

  const continuity = new FeedContinuity(feed, ({ head, first }) => {
    log.warn({ code: LogCode.FeedStreamBroke, head, first }, 'stream GRANTS moved forward (lost or restored): clients closed with 1001, in-process layer and recent events emptied');
    metrics.feedResets.inc();
    feed.skipTo(first - 1);
    local?.clear();
    rest.streamBroke();
    // Redis entries are trusted again once the invalidator's watermark is in the new numbering.
    freshness.start(first - 1);
    gateway.streamBroke();
  });
  feed.onEvent((item) => continuity.observe(item));
  feed.onEvent((item) => {
    freshness.observe(item.seq);
    // A message that is not a valid change event blocks every fill of its grant for the window.
    local?.changed(item.id.toLowerCase(), item.change?.version ?? Number.MAX_SAFE_INTEGER);
    rest.onEvent(item);
  });
  feed.onEvent((item) => gateway.dispatch(item));
  await feed.start();
  freshness.start(feed.head);
  continuity.start();
  rest.started();
  scrapers.start();
  cache.start();
  gateway.start();

  return {
    gateway,
    rest,
    listening(port) {
      log.info({ code: LogCode.GatewayListening, host: config.HOST, port }, 'gateway listening');
    },
    async stop() {
      // New upgrades are refused (503) and clients closed over SHUTDOWN_DRAIN; REST still
      // answers meanwhile. Then the port closes.
      await gateway.drain(config.SHUTDOWN_DRAIN);
      ctx.http.close();
      continuity.stop();
      gateway.stop();
      rest.stop();
      scrapers.stop();
      await cache.stop();
      await feed.stop();
    },
  };
}
