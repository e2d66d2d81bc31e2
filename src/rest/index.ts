/**
 * The REST fallback (CONTRACT section 6, docs/rest.md), served by the gateway's
 * uWebSockets.js app: it plugs into the gateway as a GatewayExtension, so it shares the
 * port, the token verifier and the feed of stream GRANTS.
 */
import type pg from 'pg';
import type { NatsConnection } from 'nats';
import { fillWindowMs, type GrantCache } from '../cache/store.js';
import { LocalGrants, eventVersion } from '../cache/local.js';
import type { GatewayExtension } from '../gateway/server.js';
import type { TokenVerifier } from '../gateway/auth.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { RestAuth } from './auth.js';
import { ChangesRoute } from './changes.js';
import { victoriaExport } from './export.js';
import { GrantRoutes } from './grants.js';
import { health } from './health.js';
import { HttpError, Router } from './http.js';
import { RecentChanges } from './recent.js';
import { ScraperWatch } from './scrapers.js';

export interface RestOptions {
  corsOrigins: readonly string[];
  maxLimit: number;
  invalidationBoundMs: number;
  scraperStaleAfterMs: number;
  /** Grants in the in-process layer (0: none), their lifetime, and the tombstone TTL the fill window derives from. */
  localEntries?: number;
  cacheTtlMs?: number;
  tombstoneTtlMs?: number;
  /** Recent events kept in memory for `GET /v1/changes` (older ones are read from the stream). */
  recentEvents?: number;
  /** ... and at most this many characters of them. */
  recentChars?: number;
}

export interface RestDeps {
  pool: pg.Pool;
  nc: NatsConnection;
  cache: GrantCache;
  verifier: TokenVerifier;
  log: Logger;
  metrics: Metrics;
  /** Tests only: runs between a database read and its cache fill. */
  beforeFill?: () => Promise<void>;
}

export class Rest implements GatewayExtension {
  private recent: RecentChanges | undefined;
  private readonly scrapers: ScraperWatch;
  private local: LocalGrants | undefined;
  /** The stream sequence the gateway had seen when Redis last came back. */
  private reconnectFloor = 0;
  private head = () => 0;

  constructor(
    private readonly options: RestOptions,
    private readonly deps: RestDeps,
  ) {
    this.scrapers = new ScraperWatch(deps.nc, options.scraperStaleAfterMs, deps.log, deps.metrics);
    deps.cache.onReconnect = () => {
      this.reconnectFloor = this.head();
    };
  }

  /**
   * The stream sequence a cached answer must reflect now: what the feed had seen
   * CACHE_INVALIDATION_BOUND ago, and at least what it had seen when Redis came back.
   */
  required(now = Date.now()): number {
    const seen = this.recent ? this.recent.seqSeenAt(now - this.options.invalidationBoundMs) : Number.MAX_SAFE_INTEGER;
    return Math.max(seen, this.reconnectFloor);
  }

  /** Long-polls waiting (tests check an aborted one leaves nothing). */
  get waiting(): number {
    return this.recent?.waiting ?? 0;
  }

  mount(app: Parameters<GatewayExtension['mount']>[0], feed: Parameters<GatewayExtension['mount']>[1]): void {
    const { deps, options } = this;
    const router = new Router(app, { corsOrigins: options.corsOrigins, log: deps.log, metrics: deps.metrics });
    const auth = new RestAuth(deps.verifier, (reason) => deps.metrics.wsAuthFailures.inc({ reason }));
    this.head = () => feed.head;
    if (options.localEntries) {
      this.local = new LocalGrants({
        maxEntries: options.localEntries,
        maxChars: 16_000_000,
        ttlMs: options.cacheTtlMs ?? 300_000,
        windowMs: fillWindowMs(options.tombstoneTtlMs ?? 60_000),
        live: () => feed.live,
      });
    }
    const localHits = deps.metrics.cacheRequests.labels({ kind: 'grant', result: 'local_hit' });
    const grants = new GrantRoutes({
      pool: deps.pool,
      cache: deps.cache,
      maxLimit: options.maxLimit,
      required: () => this.required(),
      onLocalHit: () => localHits.inc(),
      ...(this.local ? { local: this.local } : {}),
      ...(deps.beforeFill ? { beforeFill: deps.beforeFill } : {}),
    });

    router.get('/v1/grants', 'grants', 0, async (req) => {
      await auth.principal(req);
      return grants.list(req);
    });
    router.get('/v1/grants/:id', 'grant', 1, async (req) => {
      await auth.principal(req);
      return grants.byId(req);
    });
    let changes: ChangesRoute | undefined;
    router.get('/v1/changes', 'changes', 0, async (req) => {
      await auth.principal(req);
      if (!this.recent) throw new HttpError(503, 'starting', 'the gateway is starting');
      changes ??= new ChangesRoute(feed, this.recent, options.maxLimit);
      return changes.handle(req);
    });
    router.get('/v1/exports/victoria.csv', 'export_victoria', 0, async (req) => {
      await auth.principal(req);
      return victoriaExport(deps.pool);
    });
    router.get('/health', 'health', 0, () => health({ pool: deps.pool, nc: deps.nc, cache: deps.cache, scrapers: this.scrapers, required: () => this.required() }));
    router.get('/metrics', 'metrics', 0, async (req) => {
      await auth.monitor(req);
      this.scrapers.report();
      deps.metrics.longPollsWaiting.set(this.waiting);
      return { body: await deps.metrics.registry.metrics(), contentType: deps.metrics.registry.contentType, headers: { 'cache-control': 'no-store' } };
    });
  }

  started(head: number): void {
    this.recent = new RecentChanges(this.options.recentEvents ?? 10_000, this.options.recentChars ?? 256_000, Math.max(this.options.invalidationBoundMs * 2, 1_000), head);
    this.reconnectFloor = Math.max(this.reconnectFloor, head);
    this.scrapers.start();
    this.deps.cache.start();
  }

  onEvent(event: { seq: number; id: string; json: string }): void {
    // An event whose version cannot be read blocks every fill of its grant for the window.
    this.local?.changed(event.id, eventVersion(event.json) ?? Number.MAX_SAFE_INTEGER);
    this.recent?.push({ seq: event.seq, json: event.json });
  }

  async stop(): Promise<void> {
    this.recent?.releaseAll();
    this.scrapers.stop();
    await this.deps.cache.stop();
  }
}
