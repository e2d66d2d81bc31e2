/**
 * The read side of the cache: look-ups and fills for grants by id and for list pages
 * (docs/cache.md). Redis is optional at every call: when it is unreachable or slow, a
 * look-up is a miss and a fill is skipped, and the caller answers from Postgres.
 *
 * # What makes a stale read impossible to observe
 * - A fill carries the row's version; Redis refuses it if the key holds that version or a
 *   newer one, or a tombstone at a newer version (scripts.ts FILL).
 * - The invalidator turns each changed grant's key into a tombstone at the new version, and
 *   advances the watermark in the same script.
 * - A look-up is served only if the watermark covers what freshness.ts requires (grants),
 *   or the page's own sequence does (lists): every change this process saw more than
 *   CACHE_INVALIDATION_BOUND ago, and every change it had seen when Redis last came back.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { Freshness } from './freshness.js';
import { cacheKeys, type CacheKeys } from './keys.js';
import { FILL, FILL_LIST, READ } from './scripts.js';

export interface CacheOptions {
  prefix: string;
  ttlMs: number;
  tombstoneTtlMs: number;
  /** CACHE_LIST_MAX_PAGES: list pages kept at most; beyond, the oldest fills are deleted. */
  listMaxPages: number;
}

/** A fill must reach Redis within this long of the database read behind it. */
export function fillWindowMs(tombstoneTtlMs: number): number {
  return Math.min(5_000, Math.floor(tombstoneTtlMs / 2));
}

interface CacheCommands {
  cacheRead(entry: string, watermark: string, required: number, kind: 'g' | 'l'): Promise<string | null>;
  cacheFill(entry: string, version: number, value: string, ttlMs: number, readAt: number, windowMs: number): Promise<number>;
  cacheFillList(page: string, index: string, seq: number, value: string, ttlMs: number, readAt: number, windowMs: number, maxPages: number): Promise<number>;
}

type CacheRedis = Redis & CacheCommands;

/** ioredis options for a request path: fail fast rather than queue while Redis is away. */
export function requestPathRedisOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 250,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: true,
  };
}

export function defineCacheCommands(redis: Redis): CacheRedis {
  redis.defineCommand('cacheRead', { numberOfKeys: 2, lua: READ });
  redis.defineCommand('cacheFill', { numberOfKeys: 1, lua: FILL });
  redis.defineCommand('cacheFillList', { numberOfKeys: 2, lua: FILL_LIST });
  return redis as CacheRedis;
}

export interface Cached {
  version: number;
  json: string;
}

export class GrantCache {
  private readonly redis: CacheRedis;
  private up = false;
  private readonly windowMs: number;
  private readonly keys: CacheKeys;
  /** Counter children, looked up once (prom-client hashes labels on every `inc`). */
  private readonly counted: Record<'g' | 'l', Record<'hit' | 'miss' | 'error', { inc(): void }>>;

  constructor(
    url: string,
    private readonly options: CacheOptions,
    private readonly freshness: Freshness,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.windowMs = fillWindowMs(options.tombstoneTtlMs);
    this.keys = cacheKeys(options.prefix);
    const children = (kind: string) => ({
      hit: metrics.cacheRequests.labels({ kind, result: 'hit' }),
      miss: metrics.cacheRequests.labels({ kind, result: 'miss' }),
      error: metrics.cacheRequests.labels({ kind, result: 'error' }),
    });
    this.counted = { g: children('grant'), l: children('list') };
    this.redis = defineCacheCommands(new Redis(url, requestPathRedisOptions()));
    this.redis.on('ready', () => {
      this.up = true;
      this.metrics.cacheUp.set(1);
      this.freshness.cacheReconnected();
      this.log.info({ code: LogCode.CacheConnected }, 'cache connected to Redis');
    });
    this.redis.on('close', () => {
      if (this.up) this.log.warn({ code: LogCode.CacheUnavailable }, 'cache lost Redis; serving from Postgres');
      this.up = false;
      this.metrics.cacheUp.set(0);
    });
    // Errors surface on the commands; the connection's own errors only need to be observed.
    this.redis.on('error', () => undefined);
  }

  /** Connects in the background; the cache is used from the moment Redis is ready. */
  start(): void {
    this.redis.connect().catch(() => undefined);
  }

  get healthy(): boolean {
    return this.up;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** The invalidation watermark, or null when there is none (no invalidator has run on this Redis). */
  async watermark(): Promise<number | null> {
    const value = await this.redis.get(this.keys.watermark);
    return value === null ? null : Number(value);
  }

  readGrant(id: string): Promise<Cached | undefined> {
    return this.read(this.keys.grant(id), 'g');
  }

  readList(query: string): Promise<Cached | undefined> {
    return this.read(this.keys.list(query), 'l');
  }

  fillGrant(id: string, version: number, json: string, readAt: number): Promise<void> {
    return this.fill(() => this.redis.cacheFill(this.keys.grant(id), version, `v${version}\n${json}`, this.options.ttlMs, readAt, this.windowMs));
  }

  /** Fills a list page within the pages' budget (scripts.ts FILL_LIST). */
  fillList(query: string, seq: number, json: string, readAt: number): Promise<void> {
    const { ttlMs, listMaxPages } = this.options;
    return this.fill(() => this.redis.cacheFillList(this.keys.list(query), this.keys.listIndex, seq, `v${seq}\n${json}`, ttlMs, readAt, this.windowMs, listMaxPages));
  }

  private async read(key: string, kind: 'g' | 'l'): Promise<Cached | undefined> {
    const counted = this.counted[kind];
    if (!this.up) {
      counted.error.inc();
      return undefined;
    }
    let value: string | null;
    try {
      value = await this.redis.cacheRead(key, this.keys.watermark, this.freshness.required(), kind);
    } catch (err) {
      counted.error.inc();
      this.log.debug({ code: LogCode.CacheUnavailable, err }, 'cache read failed');
      return undefined;
    }
    if (value === null) {
      counted.miss.inc();
      return undefined;
    }
    counted.hit.inc();
    const nl = value.indexOf('\n');
    return { version: Number(value.slice(1, nl)), json: value.slice(nl + 1) };
  }

  private async fill(run: () => Promise<number>): Promise<void> {
    if (!this.up) return;
    try {
      const result = await run();
      this.metrics.cacheFills.inc({ result: result === 1 ? 'stored' : result === 0 ? 'stale' : 'late' });
    } catch (err) {
      this.metrics.cacheFills.inc({ result: 'error' });
      this.log.debug({ code: LogCode.CacheUnavailable, err }, 'cache fill failed');
    }
  }

  async stop(): Promise<void> {
    this.redis.disconnect();
  }
}
