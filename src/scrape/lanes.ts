/**
 * Per-host lanes: the fetcher's politeness in time. A host's lane runs its requests one
 * after another (a promise chain) and spaces them out: at least `minDelayMs` plus
 * 0..`jitterMs` between two of them, more when robots.txt asks with a `Crawl-delay` (up to
 * `maxCrawlDelayMs`). Each lane also holds the host's circuit breaker (breaker.ts) and its
 * run of 429s, which fetcher.ts reads and updates.
 *
 * # Concurrency
 * A task and everything it awaits (retries and backoff included) holds the lane, so the
 * whole host waits out a backoff or a Retry-After. A failed task does not stop the chain.
 */
import { HostBreaker } from './breaker.js';
import type { Clock } from './clock.js';
import type { Robots } from './robots.js';

/** One host's queue, pacing and breaker. */
export interface Lane {
  tail: Promise<unknown>;
  /** Earliest time (ms since epoch) the next request may be sent. */
  nextAt: number;
  consecutive429: number;
  breaker: HostBreaker;
}

/** Pacing and breaker settings for every lane, and the time and randomness they use. */
export interface LaneOptions {
  minDelayMs: number;
  jitterMs: number;
  maxCrawlDelayMs?: number;
  breakerCooldownMs: number;
  breakerMaxCooldownMs: number;
  clock: Clock;
  random: () => number;
}

/** The lanes of every host seen, created on first use and kept. */
export class HostLanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly options: LaneOptions) {}

  /** The lane of `host` (`host[:port]`), created closed and ready on first use. */
  lane(host: string): Lane {
    let lane = this.lanes.get(host);
    if (!lane) {
      lane = {
        tail: Promise.resolve(),
        nextAt: 0,
        consecutive429: 0,
        breaker: new HostBreaker(host, {
          cooldownMs: this.options.breakerCooldownMs,
          maxCooldownMs: this.options.breakerMaxCooldownMs,
          now: () => this.options.clock.now(),
        }),
      };
      this.lanes.set(host, lane);
    }
    return lane;
  }

  /** Runs `task` in the lane of `url`'s host once every task queued before it has settled. */
  run<T>(url: URL, task: () => Promise<T>): Promise<T> {
    const lane = this.lane(url.host);
    const run = lane.tail.then(task, task);
    lane.tail = run.catch(() => undefined);
    return run;
  }

  /** Milliseconds until `lane` may send again (zero or less: now). */
  untilTurn(lane: Lane): number {
    return lane.nextAt - this.options.clock.now();
  }

  /** Marks a request on `lane` as just answered: the next waits the host's delay. */
  spaceNext(lane: Lane, robots: Robots): void {
    lane.nextAt = this.options.clock.now() + this.delayFor(robots);
  }

  private delayFor(robots: Robots): number {
    const crawlDelay = Math.min(robots.crawlDelayMs ?? 0, this.options.maxCrawlDelayMs ?? 60_000);
    return Math.max(this.options.minDelayMs, crawlDelay) + this.options.random() * this.options.jitterMs;
  }
}
