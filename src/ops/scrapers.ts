/**
 * The gateway's view of the scrapers, for `/health` and `navimpact_scraper_up{source}`: the
 * last status each source published on `scrape.status.<source>`, and when it was last `ok`.
 * A source is up while its last status is `ok` and that is newer than SCRAPER_STALE_AFTER.
 * Sources are known from their first status message; a gateway that started after a
 * source's last message learns of it at its next one (heartbeats come every run).
 *
 * A source not heard from for SCRAPER_FORGET_AFTER (by this process's clock, when its
 * last status arrived) is forgotten: a retired source would otherwise keep `/health`
 * degraded and its metric series alive for ever. It comes back with its next status.
 */
import type { NatsConnection, Subscription } from 'nats';
import { LogCode } from '../domain/codes.js';
import { SCRAPE_STATES, ScrapeStatus, ScrapeSubjects, SourceName, type ScrapeState } from '../domain/scrape-status.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

export interface SourceHealth {
  state: ScrapeState;
  at: string;
  lastOkAt: string | null;
  detail?: string;
  up: boolean;
}

export interface ScraperWatchOptions {
  /** SCRAPER_STALE_AFTER: a source's last `ok` older than this counts as down. */
  staleAfterMs: number;
  /** SCRAPER_FORGET_AFTER: a source silent for this long is forgotten. */
  forgetAfterMs: number;
}

export class ScraperWatch {
  private readonly sources = new Map<string, { state: ScrapeState; at: string; lastOk: number | undefined; heard: number; detail?: string }>();
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: ScraperWatchOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    const prefix = ScrapeSubjects.status('');
    this.sub = this.nc.subscribe(ScrapeSubjects.statusAll, {
      callback: (err, msg) => {
        if (err) return;
        const source = SourceName.safeParse(msg.subject.slice(prefix.length));
        let body: unknown;
        try {
          body = msg.json();
        } catch {
          body = undefined;
        }
        const status = ScrapeStatus.safeParse(body);
        if (!source.success || !status.success) {
          this.log.warn({ code: LogCode.ScraperStatusInvalid, subject: msg.subject }, 'scraper status not understood; ignored');
          return;
        }
        const previous = this.sources.get(source.data);
        const at = Date.parse(status.data.at);
        this.sources.set(source.data, {
          state: status.data.state,
          at: status.data.at,
          lastOk: status.data.state === 'ok' ? at : previous?.lastOk,
          heard: Date.now(),
          ...(status.data.detail === undefined ? {} : { detail: status.data.detail }),
        });
      },
    });
  }

  /** Every known source, and whether it counts as up now; updates the gauges (up, state, last ok). */
  report(now = Date.now()): Record<string, SourceHealth> {
    const out: Record<string, SourceHealth> = {};
    for (const [name, s] of this.sources) {
      if (now - s.heard > this.options.forgetAfterMs) {
        this.forget(name, s.heard);
        continue;
      }
      const up = s.state === 'ok' && s.lastOk !== undefined && now - s.lastOk <= this.options.staleAfterMs;
      this.metrics.scraperUp.set({ source: name }, up ? 1 : 0);
      for (const state of SCRAPE_STATES) this.metrics.scraperState.set({ source: name, state }, s.state === state ? 1 : 0);
      this.metrics.scraperLastOk.set({ source: name }, s.lastOk === undefined ? 0 : s.lastOk / 1_000);
      out[name] = { state: s.state, at: s.at, lastOkAt: s.lastOk === undefined ? null : new Date(s.lastOk).toISOString(), ...(s.detail === undefined ? {} : { detail: s.detail }), up };
    }
    return out;
  }

  /** Sources known now (tests). */
  get known(): number {
    return this.sources.size;
  }

  private forget(name: string, heard: number): void {
    this.sources.delete(name);
    this.metrics.scraperUp.remove({ source: name });
    for (const state of SCRAPE_STATES) this.metrics.scraperState.remove({ source: name, state });
    this.metrics.scraperLastOk.remove({ source: name });
    this.log.info({ code: LogCode.ScraperForgotten, source: name, lastHeardAt: new Date(heard).toISOString() }, 'scraper not heard from for SCRAPER_FORGET_AFTER; forgotten');
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}
