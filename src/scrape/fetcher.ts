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
 *
 * # Files
 * This file decides what each answer means (retries, Retry-After, blocks, redirects, 304s);
 * lanes.ts orders and paces requests per host, robots-cache.ts keeps robots.txt per origin,
 * page-cache.ts keeps pages for conditional requests, and http.ts sends one request and
 * reads its body.
 */
import { backoffDelay, type BackoffPolicy } from '../domain/backoff.js';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { detectChallenge } from './block.js';
import type { HostBreaker } from './breaker.js';
import { systemClock, type Clock } from './clock.js';
import { HostBlockedError, HttpStatusError, NetworkError, ResponseTooLargeError, RobotsDisallowedError } from './errors.js';
import { HttpClient, type FetchResult } from './http.js';
import { HostLanes, type Lane } from './lanes.js';
import { PageCache } from './page-cache.js';
import { RobotsCache } from './robots-cache.js';
import { ALLOW_ALL, type Robots } from './robots.js';

export type { FetchResult } from './http.js';

/** Politeness, limits and retry settings of a fetcher, and the I/O it is given. */
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

/** A host's breaker opened (or reopened after a refused probe). */
export interface BlockedEvent {
  host: string;
  url: string;
  reason: string;
  /** When the breaker lets one probe through (ms since epoch). */
  until: number;
}

type Attempt = { kind: 'done'; result: FetchResult } | { kind: 'redirect'; location: string; status: number };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Fetches pages politely for one scraper: its lanes, robots.txt and page caches are per instance. */
export class PoliteFetcher {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly log: Logger;
  private readonly http: HttpClient;
  private readonly lanes: HostLanes;
  private readonly robots: RobotsCache;
  private readonly pages: PageCache;

  constructor(private readonly options: FetcherOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = { baseMs: options.backoffBaseMs, maxMs: options.backoffMaxMs };
    this.log = options.log;
    this.http = new HttpClient(options);
    this.lanes = new HostLanes({ ...options, clock: this.clock, random: this.random });
    this.robots = new RobotsCache({ ...options, clock: this.clock });
    this.pages = new PageCache(options.cacheEntries ?? 2_000);
  }

  /** GETs `url` politely; follows up to `maxRedirects` redirects. */
  async get(url: string): Promise<FetchResult> {
    let current = new URL(url);
    const maxRedirects = this.options.maxRedirects ?? 5;
    for (let hop = 0; ; hop++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new HttpStatusError(current.href, 0, { cause: new Error('only http and https are fetched') });
      const target = current;
      const attempt = await this.lanes.run(target, () => this.fetchInLane(target));
      if (attempt.kind === 'done') return attempt.result;
      if (hop >= maxRedirects) throw new HttpStatusError(target.href, attempt.status, { cause: new Error(`more than ${maxRedirects} redirects`) });
      current = new URL(attempt.location, target);
    }
  }

  /** The breaker state of a host, e.g. to skip a scheduled run while it is open. */
  breakerOf(host: string): HostBreaker {
    return this.lanes.lane(host).breaker;
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.http.close();
  }

  private async fetchInLane(url: URL): Promise<Attempt> {
    const lane = this.lanes.lane(url.host);
    const robots = await this.robots.rulesFor(url, (robotsUrl) => this.send(robotsUrl, lane, {}, ALLOW_ALL));
    if (!robots.allowed(url.pathname + url.search)) {
      this.log.warn({ code: LogCode.ScrapeRobotsDisallowed, url: url.href }, 'robots.txt disallows this URL; not fetched');
      throw new RobotsDisallowedError(url.href);
    }
    const cached = this.pages.get(url.href);
    const response = await this.send(url, lane, this.pages.conditionalHeaders(cached), robots);
    if (REDIRECTS.has(response.status) && response.headers.location) {
      return { kind: 'redirect', location: response.headers.location, status: response.status };
    }
    if (response.status === 304 && cached) {
      return { kind: 'done', result: this.pages.notModified(url.href, cached) };
    }
    if (response.status >= 200 && response.status < 300) {
      this.pages.store(url.href, response);
      return { kind: 'done', result: response };
    }
    throw new HttpStatusError(url.href, response.status);
  }

  /**
   * Sends one GET with retries, inside the host's lane. Returns the final response, or
   * throws HostBlockedError / NetworkError / HttpStatusError.
   */
  private async send(url: URL, lane: Lane, extraHeaders: Record<string, string>, robots: Robots, retries = this.options.retries): Promise<FetchResult> {
    const breaker = lane.breaker;
    let wait = 0;
    for (let attempt = 0; ; attempt++) {
      const turn = Math.max(this.lanes.untilTurn(lane), wait);
      if (turn > 0) await this.clock.sleep(turn);
      const wasOpen = breaker.state !== 'closed';
      if (!breaker.admit()) throw new HostBlockedError(url.host, breaker.lastReason ?? 'blocked', breaker.reopensAt);
      if (wasOpen) this.log.info({ code: LogCode.ScrapeHostProbe, host: url.host, url: url.href }, 'breaker half-open: sending one probe request');
      let response: FetchResult;
      try {
        response = await this.http.get(url, extraHeaders);
      } catch (err) {
        breaker.release();
        this.lanes.spaceNext(lane, robots);
        if (err instanceof ResponseTooLargeError) throw err;
        if (attempt >= retries) throw new NetworkError(url.href, attempt + 1, { cause: err });
        wait = backoffDelay(attempt, this.backoff, this.random);
        this.log.info({ code: LogCode.ScrapeRetry, url: url.href, attempt: attempt + 1, waitMs: wait, err: (err as Error).message }, 'network error; retrying');
        continue;
      }
      this.lanes.spaceNext(lane, robots);

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
        wait = retryAfter ?? backoffDelay(attempt, this.backoff, this.random);
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
        wait = retryAfter ?? backoffDelay(attempt, this.backoff, this.random);
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
}
