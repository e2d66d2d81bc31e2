/**
 * robots.txt per origin, fetched once and kept `robotsTtlMs` (robots.ts parses it).
 * RFC 9309: a 2xx is parsed, a 4xx allows everything, and a 5xx or an unreachable file
 * disallows everything until it can be read (looked at again within ten minutes).
 *
 * The fetching is the caller's: fetcher.ts passes a loader that sends through the host's
 * lane, so robots.txt is paced, retried and breaker-guarded like any page.
 */
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import type { Clock } from './clock.js';
import { HostBlockedError, HttpStatusError } from './errors.js';
import type { FetchResult } from './http.js';
import { ALLOW_ALL, DISALLOW_ALL, parseRobots, type Robots } from './robots.js';

/** What the cache needs to know of the fetcher's options. */
export interface RobotsCacheOptions {
  /** The product token robots.txt groups are matched against. */
  robotsToken: string;
  /** How long a read robots.txt is kept. Default one day. */
  robotsTtlMs?: number;
  clock: Clock;
  log: Logger;
}

interface RobotsEntry {
  robots: Robots;
  expiresAt: number;
}

/** The robots.txt rules of every origin seen. */
export class RobotsCache {
  private readonly robots = new Map<string, RobotsEntry>();

  constructor(private readonly options: RobotsCacheOptions) {}

  /**
   * The rules for `url`'s origin, from the cache or read with `load`. Throws only
   * HostBlockedError (the host's breaker is open); any other failure means disallow-all.
   */
  async rulesFor(url: URL, load: (robotsUrl: URL) => Promise<FetchResult>): Promise<Robots> {
    const origin = url.origin;
    const known = this.robots.get(origin);
    if (known && known.expiresAt > this.options.clock.now()) return known.robots;
    const robotsUrl = new URL('/robots.txt', origin);
    let robots: Robots;
    let ttl = this.options.robotsTtlMs ?? 86_400_000;
    try {
      const response = await load(robotsUrl);
      if (response.status >= 200 && response.status < 300) robots = parseRobots(response.body, this.options.robotsToken);
      else if (response.status >= 400 && response.status < 500) robots = ALLOW_ALL;
      else throw new HttpStatusError(robotsUrl.href, response.status);
    } catch (err) {
      if (err instanceof HostBlockedError) throw err;
      // RFC 9309 2.3.1.4: unreachable means complete disallow; look again soon.
      this.options.log.warn({ code: LogCode.ScrapeRobotsUnavailable, url: robotsUrl.href, err }, 'robots.txt unavailable; not fetching from this site until it can be read');
      robots = DISALLOW_ALL;
      ttl = Math.min(ttl, 600_000);
    }
    this.robots.set(origin, { robots, expiresAt: this.options.clock.now() + ttl });
    return robots;
  }
}
