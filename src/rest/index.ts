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
import { RateLimiter } from '../http/rate-limit.js';
import type { Handler, Reply, Request } from '../http/request.js';
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
  /** REST_RATE_LIMIT: requests per second per subject (or per address without a valid token). */
  rateLimit: number;
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

    // Every REST route: the token, the rate limit, then the route; a database too slow or
    // too busy answers 503 with Retry-After (database.ts).
    const limiter = new RateLimiter(options.rateLimit, options.rateLimit * 2);
    const limit = (key: string, route: string, by: 'subject' | 'address') => {
      const wait = limiter.take(key);
      if (wait === 0) return;
      deps.metrics.restRateLimited.inc({ route, by });
      throw new HttpError(429, HttpErrorCode.RateLimited, `more than ${options.rateLimit} requests per second${by === 'subject' ? ' for this token subject' : ' from this address'}; retry after ${wait} s`, undefined, {
        'retry-after': String(wait),
      });
    };
    // The route once the token is known: a reply it has at once (a cached grant) is
    // returned as it is, so the router writes it before uWS's handler returns.
    const serve = (req: Request, sub: string, name: string, handler: Handler): Reply | Promise<Reply> => {
      limit(`s:${sub}`, name, 'subject');
      let reply: Reply | Promise<Reply>;
      try {
        reply = handler(req);
      } catch (err) {
        throw databaseRefusal(err);
      }
      return reply instanceof Promise ? reply.catch((err: unknown) => Promise.reject(databaseRefusal(err))) : reply;
    };
    const route = (pattern: string, name: string, paramCount: number, handler: Handler) =>
      router.get(pattern, name, paramCount, (req) => {
        const known = auth.remembered(req);
        if (known) return serve(req, known.sub, name, handler);
        return auth.principal(req).then(
          (principal) => serve(req, principal.sub, name, handler),
          (err: unknown) => {
            // Without a valid token the client address is the key: refusals cost too.
            limit(`a:${req.address}`, name, 'address');
            throw err;
          },
        );
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
