/**
 * The polite fetcher: every scraper's only way onto the web.
 *
 * # Politeness
 * - One request at a time per host, and at least `minDelayMs` (plus 0..`jitterMs`) between
 *   two of them; a robots.txt `Crawl-delay` raises the delay (up to `maxCrawlDelayMs`).
 * - robots.txt is fetched once per origin (cached `robotsTtlMs`), and a URL it disallows
 *   for our product token, or for `*` when no group names us, is never requested.
 *   RFC 9309: a 4xx robots.txt allows everything; a 5xx or unreachable one disallows
 *   everything until it can be read.
 * - An honest User-Agent with a contact address; never another identity.
 * - Conditional requests: a page seen before is asked for with `If-None-Match` /
 *   `If-Modified-Since`, and a 304 returns the body kept from last time.
 *
 * # Failures
 * - Network errors and 5xx are retried up to `retries` times with exponential backoff and
 *   full jitter (a random wait between 0 and base * 2^attempt, capped). A `Retry-After`
 *   on 429 or 503 (seconds or an HTTP date) is waited instead, up to `maxRetryAfterMs`.
 * - A block opens the host's circuit breaker (see breaker.ts): a 403, a challenge page
 *   (block.ts), a 429 after every retry, `stormThreshold` 429s in a row, or a Retry-After
 *   longer than we wait. `onBlocked` is told, once per opening, so the source can publish
 *   `blocked` at once. Until the cooldown ends every request to that host fails with
 *   HostBlockedError without being sent.
 *
 * # Concurrency
 * Each host has a lane: a promise chain, so its requests (retries and backoff included)
 * run one after another; the whole host waits out a backoff or a Retry-After. Redirects
 * are followed outside the lane, so one to the same host queues behind, not inside, it.
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { detectChallenge } from './block.js';
import { HostBreaker } from './breaker.js';
import { systemClock, type Clock } from './clock.js';
import { HostBlockedError, HttpStatusError, NetworkError, ResponseTooLargeError, RobotsDisallowedError } from './errors.js';
import { ALLOW_ALL, DISALLOW_ALL, parseRobots, type Robots } from './robots.js';

export interface FetcherOptions {
  /** The whole User-Agent header, `NavImpactLiveBot/<version> (+<contact>)`. */
  userAgent: string;
  /** The product token robots.txt groups are matched against. */
  robotsToken: string;
  minDelayMs: number;
  jitterMs: number;
  timeoutMs: number;
  maxBytes: number;
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
  breakerCooldownMs: number;
  breakerMaxCooldownMs: number;
  /** 429s in a row from one host that count as a storm (a block). Default 5. */
  stormThreshold?: number;
  robotsTtlMs?: number;
  maxCrawlDelayMs?: number;
  maxRedirects?: number;
  /** Most pages kept for conditional requests. Default 2,000. */
  cacheEntries?: number;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  onBlocked?: (event: BlockedEvent) => void;
  onUnblocked?: (host: string) => void;
}

export interface BlockedEvent {
  host: string;
  url: string;
  reason: string;
  /** When the breaker lets one probe through (ms since epoch). */
  until: number;
}

export interface FetchResult {
  /** The URL finally answered (after redirects). */
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** True when the server answered 304 and `body` is the one kept from the last fetch. */
  notModified: boolean;
}

interface CacheEntry {
  etag?: string;
  lastModified?: string;
  result: FetchResult;
}

interface Lane {
  tail: Promise<unknown>;
  nextAt: number;
  consecutive429: number;
  breaker: HostBreaker;
}

interface RobotsEntry {
  robots: Robots;
  expiresAt: number;
}

type Attempt = { kind: 'done'; result: FetchResult } | { kind: 'redirect'; location: string; status: number };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class PoliteFetcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly robots = new Map<string, RobotsEntry>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;

  constructor(private readonly options: FetcherOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.log;
    // One connection per origin: the lane already serialises, this keeps it visible on the wire.
    this.dispatcher = new Agent({ connections: 1, keepAliveTimeout: 10_000, connect: { timeout: options.timeoutMs } });
  }

  /** GETs `url` politely; follows up to `maxRedirects` redirects. */
  async get(url: string): Promise<FetchResult> {
    let current = new URL(url);
    const maxRedirects = this.options.maxRedirects ?? 5;
    for (let hop = 0; ; hop++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new HttpStatusError(current.href, 0, { cause: new Error('only http and https are fetched') });
      const target = current;
      const attempt = await this.inLane(target, () => this.fetchInLane(target));
      if (attempt.kind === 'done') return attempt.result;
      if (hop >= maxRedirects) throw new HttpStatusError(target.href, attempt.status, { cause: new Error(`more than ${maxRedirects} redirects`) });
      current = new URL(attempt.location, target);
    }
  }

  /** The breaker state of a host, e.g. to skip a scheduled run while it is open. */
  breakerOf(host: string): HostBreaker {
    return this.lane(host).breaker;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private lane(host: string): Lane {
    let lane = this.lanes.get(host);
    if (!lane) {
      lane = {
        tail: Promise.resolve(),
        nextAt: 0,
        consecutive429: 0,
        breaker: new HostBreaker(host, {
          cooldownMs: this.options.breakerCooldownMs,
          maxCooldownMs: this.options.breakerMaxCooldownMs,
          now: () => this.clock.now(),
        }),
      };
      this.lanes.set(host, lane);
    }
    return lane;
  }

  private inLane<T>(url: URL, task: () => Promise<T>): Promise<T> {
    const lane = this.lane(url.host);
    const run = lane.tail.then(task, task);
    lane.tail = run.catch(() => undefined);
    return run;
  }

  private async fetchInLane(url: URL): Promise<Attempt> {
    const lane = this.lane(url.host);
    const robots = await this.robotsFor(url, lane);
    if (!robots.allowed(url.pathname + url.search)) {
      this.log.warn({ code: LogCode.ScrapeRobotsDisallowed, url: url.href }, 'robots.txt disallows this URL; not fetched');
      throw new RobotsDisallowedError(url.href);
    }
    const cached = this.cache.get(url.href);
    const conditional: Record<string, string> = {};
    if (cached?.etag) conditional['if-none-match'] = cached.etag;
    if (cached?.lastModified) conditional['if-modified-since'] = cached.lastModified;
    const response = await this.send(url, lane, conditional, robots);
    if (REDIRECTS.has(response.status) && response.headers.location) {
      return { kind: 'redirect', location: response.headers.location, status: response.status };
    }
    if (response.status === 304 && cached) {
      this.remember(url.href, cached);
      return { kind: 'done', result: { ...cached.result, notModified: true } };
    }
    if (response.status >= 200 && response.status < 300) {
      const entry: CacheEntry = { result: response };
      if (response.headers.etag) entry.etag = response.headers.etag;
      if (response.headers['last-modified']) entry.lastModified = response.headers['last-modified'];
      if (entry.etag || entry.lastModified) this.remember(url.href, entry);
      return { kind: 'done', result: response };
    }
    throw new HttpStatusError(url.href, response.status);
  }

  private remember(key: string, entry: CacheEntry): void {
    // A Map iterates in insertion order: re-inserting makes it the newest, the first is the oldest.
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > (this.options.cacheEntries ?? 2_000)) this.cache.delete(this.cache.keys().next().value!);
  }

  private async robotsFor(url: URL, lane: Lane): Promise<Robots> {
    const origin = url.origin;
    const known = this.robots.get(origin);
    if (known && known.expiresAt > this.clock.now()) return known.robots;
    const robotsUrl = new URL('/robots.txt', origin);
    let robots: Robots;
    let ttl = this.options.robotsTtlMs ?? 86_400_000;
    try {
      const response = await this.send(robotsUrl, lane, {}, ALLOW_ALL);
      if (response.status >= 200 && response.status < 300) robots = parseRobots(response.body, this.options.robotsToken);
      else if (response.status >= 400 && response.status < 500) robots = ALLOW_ALL;
      else throw new HttpStatusError(robotsUrl.href, response.status);
    } catch (err) {
      if (err instanceof HostBlockedError) throw err;
      // RFC 9309 2.3.1.4: unreachable means complete disallow; look again soon.
      this.log.warn({ code: LogCode.ScrapeRobotsUnavailable, url: robotsUrl.href, err }, 'robots.txt unavailable; not fetching from this site until it can be read');
      robots = DISALLOW_ALL;
      ttl = Math.min(ttl, 600_000);
    }
    this.robots.set(origin, { robots, expiresAt: this.clock.now() + ttl });
    return robots;
  }

  private delayFor(robots: Robots): number {
    const crawlDelay = Math.min(robots.crawlDelayMs ?? 0, this.options.maxCrawlDelayMs ?? 60_000);
    return Math.max(this.options.minDelayMs, crawlDelay) + this.random() * this.options.jitterMs;
  }

  private backoff(attempt: number): number {
    // Full jitter (AWS architecture blog, "Exponential Backoff and Jitter").
    const ceiling = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** attempt);
    return Math.floor(this.random() * ceiling);
  }

  /**
   * Sends one GET with retries, inside the host's lane. Returns the final response, or
   * throws HostBlockedError / NetworkError / HttpStatusError.
   */
  private async send(url: URL, lane: Lane, extraHeaders: Record<string, string>, robots: Robots, retries = this.options.retries): Promise<FetchResult> {
    const breaker = lane.breaker;
    let wait = 0;
    for (let attempt = 0; ; attempt++) {
      const turn = Math.max(lane.nextAt - this.clock.now(), wait);
      if (turn > 0) await this.clock.sleep(turn);
      const wasOpen = breaker.state !== 'closed';
      if (!breaker.admit()) throw new HostBlockedError(url.host, breaker.lastReason ?? 'blocked', breaker.reopensAt);
      if (wasOpen) this.log.info({ code: LogCode.ScrapeHostProbe, host: url.host, url: url.href }, 'breaker half-open: sending one probe request');
      let response: FetchResult;
      try {
        response = await this.request(url, extraHeaders);
      } catch (err) {
        breaker.release();
        lane.nextAt = this.clock.now() + this.delayFor(robots);
        if (err instanceof ResponseTooLargeError) throw err;
        if (attempt >= retries) throw new NetworkError(url.href, attempt + 1, { cause: err });
        wait = this.backoff(attempt);
        this.log.info({ code: LogCode.ScrapeRetry, url: url.href, attempt: attempt + 1, waitMs: wait, err: (err as Error).message }, 'network error; retrying');
        continue;
      }
      lane.nextAt = this.clock.now() + this.delayFor(robots);

      const challenge = detectChallenge(response);
      if (challenge || response.status === 403) {
        this.block(url, lane, challenge ? `challenge page: ${challenge} (HTTP ${response.status})` : 'HTTP 403 Forbidden');
      }
      if (response.status === 429) {
        lane.consecutive429++;
        const retryAfter = this.retryAfterMs(response.headers['retry-after']);
        if (retryAfter !== undefined && retryAfter > this.options.maxRetryAfterMs) {
          this.block(url, lane, `HTTP 429 with Retry-After ${Math.round(retryAfter / 1000)} s`, retryAfter);
        }
        if (lane.consecutive429 >= (this.options.stormThreshold ?? 5) || attempt >= retries) {
          this.block(url, lane, `HTTP 429 storm (${lane.consecutive429} in a row)`, retryAfter);
        }
        breaker.release();
        wait = retryAfter ?? this.backoff(attempt);
        this.log.info({ code: LogCode.ScrapeRetry, url: url.href, status: 429, attempt: attempt + 1, waitMs: wait, retryAfter: response.headers['retry-after'] }, 'rate limited; waiting');
        continue;
      }
      lane.consecutive429 = 0;
      if (response.status >= 500) {
        breaker.release();
        const retryAfter = response.status === 503 ? this.retryAfterMs(response.headers['retry-after']) : undefined;
        if (attempt >= retries || (retryAfter !== undefined && retryAfter > this.options.maxRetryAfterMs)) {
          throw new HttpStatusError(url.href, response.status);
        }
        wait = retryAfter ?? this.backoff(attempt);
        this.log.info({ code: LogCode.ScrapeRetry, url: url.href, status: response.status, attempt: attempt + 1, waitMs: wait }, 'server error; retrying');
        continue;
      }
      if (breaker.state !== 'closed') {
        this.log.info({ code: LogCode.ScrapeHostUnblocked, host: url.host }, 'probe succeeded; breaker closed');
        breaker.succeed();
        this.options.onUnblocked?.(url.host);
      } else {
        breaker.succeed();
      }
      return response;
    }
  }

  private block(url: URL, lane: Lane, reason: string, minCooldownMs?: number): never {
    const fresh = lane.breaker.block({ reason, ...(minCooldownMs !== undefined && { minCooldownMs }) });
    lane.consecutive429 = 0;
    const until = lane.breaker.reopensAt;
    if (fresh) {
      this.log.warn({ code: LogCode.ScrapeHostBlocked, host: url.host, url: url.href, reason, until: new Date(until).toISOString() }, 'site refused us; breaker open');
    }
    // Told on every (re)opening, so a probe that is refused again is reported too.
    this.options.onBlocked?.({ host: url.host, url: url.href, reason, until });
    throw new HostBlockedError(url.host, reason, until);
  }

  /** Retry-After as milliseconds from now: delay-seconds or an HTTP date (RFC 9110 10.2.3). */
  private retryAfterMs(value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    const text = value.trim();
    if (/^\d+$/.test(text)) return Number(text) * 1000;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    return Math.max(0, at - this.clock.now());
  }

  private async request(url: URL, extraHeaders: Record<string, string>): Promise<FetchResult> {
    const { timeoutMs, maxBytes } = this.options;
    const response = await request(url, {
      method: 'GET',
      dispatcher: this.dispatcher,
      headers: {
        'user-agent': this.options.userAgent,
        accept: 'text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.8,*/*;q=0.5',
        'accept-encoding': 'gzip, deflate, br',
        'accept-language': 'en-AU,en;q=0.9',
        ...extraHeaders,
      },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const declared = Number(headers['content-length']);
    if (!headers['content-encoding'] && Number.isFinite(declared) && declared > maxBytes) {
      response.body.destroy();
      throw new ResponseTooLargeError(url.href, maxBytes);
    }
    const bytes = await readLimited(response.body, headers['content-encoding'], maxBytes, url.href);
    return { url: url.href, status: response.statusCode, headers, body: decode(bytes, headers['content-type']), notModified: false };
  }
}

function decompressor(encoding: string | undefined): Transform | undefined {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/** Reads a body, decompressed, and fails as soon as it passes `maxBytes` (a zip bomb included). */
async function readLimited(body: Readable, encoding: string | undefined, maxBytes: number, url: string): Promise<Buffer> {
  const inflate = decompressor(encoding);
  let source: AsyncIterable<Buffer> = body;
  if (inflate) {
    body.on('error', (err) => inflate.destroy(err));
    source = body.pipe(inflate);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) throw new ResponseTooLargeError(url, maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    body.destroy();
    inflate?.destroy();
    throw err;
  }
  return Buffer.concat(chunks);
}

function decode(bytes: Buffer, contentType: string | undefined): string {
  const charset = /charset=["']?([\w-]+)/i.exec(contentType ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}
