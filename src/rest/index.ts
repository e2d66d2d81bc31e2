/**
 * The REST fallback (CONTRACT section 6, docs/rest.md): grants through the cache, the
 * change log, the Victorian export. Mounted on the process's HTTP server beside the
 * WebSocket gateway; it reads the feed of stream GRANTS through the `ChangeFeed` interface.
 */
import type pg from 'pg';
import type { RequestAuth } from '../auth/request.js';
import type { LocalGrants } from '../cache/local.js';
import type { GrantCache } from '../cache/store.js';
import { HttpErrorCode } from '../domain/codes.js';
import type { ChangeFeed, FeedItem } from '../feed/types.js';
import { HttpError } from '../http/errors.js';
import type { Handler } from '../http/request.js';
import type { Router } from '../http/router.js';
import type { Metrics } from '../observability/metrics.js';
import { ChangesRoute } from './changes.js';
import { databaseRefusal } from './database.js';
import { victoriaExport } from './export.js';
import { GrantRoutes } from './grants.js';
import { RecentChanges } from './recent.js';

export interface RestOptions {
  /** REST_MAX_LIMIT. */
  maxLimit: number;
}

export interface RestDeps {
  pool: pg.Pool;
  feed: ChangeFeed;
  cache: GrantCache;
  /** The in-process layer, when CACHE_LOCAL_ENTRIES > 0. */
  local: LocalGrants | undefined;
  auth: RequestAuth;
  metrics: Metrics;
  /** Tests only: runs between a database read and its cache fill. */
  beforeFill?: () => Promise<void>;
}

export class Rest {
  private recent: RecentChanges | undefined;

  constructor(
    private readonly options: RestOptions,
    private readonly deps: RestDeps,
  ) {}

  /** Long-polls waiting (tests check an aborted one leaves nothing). */
  get waiting(): number {
    return this.recent?.waiting ?? 0;
  }

  mount(router: Router): void {
    const { deps, options } = this;
    const auth = deps.auth;
    const localHits = deps.metrics.cacheRequests.labels({ kind: 'grant', result: 'local_hit' });
    const grants = new GrantRoutes({
      pool: deps.pool,
      cache: deps.cache,
      maxLimit: options.maxLimit,
      onLocalHit: () => localHits.inc(),
      ...(deps.local ? { local: deps.local } : {}),
      ...(deps.beforeFill ? { beforeFill: deps.beforeFill } : {}),
    });

    // Every REST route: the token first, then the route; a database too slow or too busy
    // answers 503 with Retry-After (database.ts).
    const route = (pattern: string, name: string, paramCount: number, handler: Handler) =>
      router.get(pattern, name, paramCount, async (req) => {
        await auth.principal(req);
        try {
          return await handler(req);
        } catch (err) {
          throw databaseRefusal(err);
        }
      });
    route('/v1/grants', 'grants', 0, (req) => grants.list(req));
    route('/v1/grants/:id', 'grant', 1, (req) => grants.byId(req));
    let changes: ChangesRoute | undefined;
    route('/v1/changes', 'changes', 0, (req) => {
      if (!this.recent) throw new HttpError(503, HttpErrorCode.Starting, 'the gateway is starting');
      changes ??= new ChangesRoute(deps.feed, this.recent, options.maxLimit);
      return changes.handle(req);
    });
    route('/v1/exports/victoria.csv', 'export_victoria', 0, () => victoriaExport(deps.pool));
  }

  /** The feed started: recent events are kept from here on. */
  started(): void {
    this.recent = new RecentChanges();
  }

  /** Every message of the feed, in order; one that is not a valid change event is not served. */
  onEvent(item: FeedItem): void {
    if (item.change) this.recent?.push({ seq: item.seq, json: item.json });
  }

  /** Stream GRANTS broke (feed/continuity.ts): recent events of the older numbering are forgotten. */
  streamBroke(): void {
    this.recent?.clear();
  }

  stop(): void {
    this.recent?.releaseAll();
  }
}
