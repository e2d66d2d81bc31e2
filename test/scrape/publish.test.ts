/**
 * Records onto stream SCRAPE through JetStream: a re-run of an unchanged site publishes no
 * duplicates (the stream's message count does not move, each record's Nats-Msg-Id is
 * `<source>:<externalId>:<content hash>`), a changed record goes through, and without
 * stream SCRAPE the scraper reports `failing` with ScrapeStreamMissing. Real nats-server,
 * GrantConnect fixture pages on a local server.
 */
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeStatus } from '../../src/domain/scrape-status.js';
import { loadScrapeConfig } from '../../src/scrape/config.js';
import { Scraper } from '../../src/scrape/scraper.js';
import { GrantConnectSource } from '../../src/scrape/sources/grantconnect.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';
import { FakeClock, fixture, FixtureSite } from './site.js';

/**
 * Short waits (the fetcher's) pass at once; a long one (the schedule's interval) is held
 * until the test releases it, or the abort signal ends it.
 */
class GatedClock extends FakeClock {
  private held: { ms: number; resolve: () => void } | undefined;
  private waiting: ((ms: number) => void) | undefined;
  private unreported: number | undefined;

  override async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms < 60_000) return super.sleep(ms, signal);
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      this.held = { ms, resolve };
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      if (this.waiting) this.waiting(ms);
      else this.unreported = ms;
    });
    this.t += ms;
  }

  /** Resolves with the length of the next long sleep once the scraper is in it. */
  nextLongSleep(): Promise<number> {
    if (this.unreported !== undefined) {
      const ms = this.unreported;
      this.unreported = undefined;
      return Promise.resolve(ms);
    }
    return new Promise((resolve) => {
      this.waiting = (ms) => {
        this.waiting = undefined;
        resolve(ms);
      };
    });
  }

  release(): void {
    const held = this.held;
    this.held = undefined;
    held?.resolve();
  }
}

const SHOW = '/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e0';

function serveGrantConnect(site: FixtureSite): void {
  site.file('/Go/List', 'grantconnect/list-1.html');
  site.file('/Go/List?page=2', 'grantconnect/list-2.html');
  for (const n of [1, 2, 3]) site.file(`${SHOW}${n}`, `grantconnect/show-GO710${n}.html`);
}

describe('scrape publish', () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let site: FixtureSite;

  beforeAll(async () => {
    nats = await PrivateNats.start();
    nc = await connect({ servers: nats.url });
    jsm = await nc.jetstreamManager();
    site = await FixtureSite.start();
    serveGrantConnect(site);
  });

  afterAll(async () => {
    await site?.close();
    await nc?.close();
    await nats?.stop();
  });

  function scraperFor(source: string): Scraper {
    const config = loadScrapeConfig({ NATS_URL: nats.url, SCRAPER_CONTACT: 'https://navimpact.example/bot', SCRAPE_MIN_DELAY: '0ms', SCRAPE_JITTER: '0ms', LOG_LEVEL: 'silent' });
    return new Scraper({ config, source: new GrantConnectSource(source, site.origin), version: '0.1.0', log: testLog });
  }

  it('publish - a re-run publishes no duplicates; a changed record is published again', async () => {
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 });
    const scraper = scraperFor('grantconnect');
    await scraper.start();
    try {
      const first = await scraper.runOnce();
      expect(first).toMatchObject({ state: 'ok', found: 3, published: 3, duplicates: 0, invalid: 0 });
      expect((await jsm.streams.info('SCRAPE')).state.messages).toBe(3);

      const second = await scraper.runOnce();
      expect(second).toMatchObject({ state: 'ok', found: 3, published: 0, duplicates: 3 });
      expect((await jsm.streams.info('SCRAPE')).state.messages).toBe(3);

      const stored = await jsm.streams.getMessage('SCRAPE', { seq: 1 });
      expect(stored.subject).toBe('scrape.grants.grantconnect');
      expect(stored.header.get('Nats-Msg-Id')).toMatch(/^grantconnect:GO7101:[0-9a-f]{32}$/);
      expect(stored.json<Record<string, unknown>>()).toMatchObject({ externalId: 'GO7101', closeDate: '30-Apr-2027 5:00 pm', amount: 'From $500,000 to $15,000,000' });

      // The site moves a closing date: that record, and only it, is new content.
      site.route(`${SHOW}3`, { body: fixture('grantconnect/show-GO7103.html').replace('5-Feb-2027 11:30 pm', '19-Feb-2027 11:30 pm') });
      const third = await scraper.runOnce();
      expect(third).toMatchObject({ state: 'ok', found: 3, published: 1, duplicates: 2 });
      expect((await jsm.streams.info('SCRAPE')).state.messages).toBe(4);
    } finally {
      await scraper.close();
      serveGrantConnect(site);
    }
  });

  it('publish - scheduled runs: heartbeats between runs, the next run after interval plus jitter, stop on abort', async () => {
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 }).catch(() => undefined);
    const clock = new GatedClock();
    const config = loadScrapeConfig({
      NATS_URL: nats.url,
      SCRAPER_CONTACT: 'https://navimpact.example/bot',
      SCRAPE_MIN_DELAY: '0ms',
      SCRAPE_JITTER: '0ms',
      SCRAPE_INTERVAL: '6h',
      SCRAPE_INTERVAL_JITTER: '15m',
      SCRAPE_HEARTBEAT: '50ms',
      LOG_LEVEL: 'silent',
    });
    const source = 'grantconnect-scheduled';
    const scraper = new Scraper({ config, source: new GrantConnectSource(source, site.origin), version: '0.1.0', log: testLog, clock, random: () => 0.5 });
    const statuses: ScrapeStatus[] = [];
    let notify = () => {};
    const sub = nc.subscribe(`scrape.status.${source}`, {
      callback: (_err, m) => {
        statuses.push(ScrapeStatus.parse(m.json()));
        notify();
      },
    });
    const statusCount = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => statuses.length >= n && resolve();
        notify();
      });
    await nc.flush();
    const listHits = site.hits('/Go/List');
    const stop = new AbortController();
    await scraper.start();
    const loop = scraper.runScheduled(stop.signal);
    try {
      const wait = await clock.nextLongSleep();
      expect(wait).toBe(6 * 3_600_000 + 0.5 * 15 * 60_000);
      expect(site.hits('/Go/List')).toBe(listHits + 1);
      // The run's status, then heartbeats repeating it while the scraper waits.
      await statusCount(3);
      expect(statuses.slice(0, 3).map((s) => s.state)).toEqual(['ok', 'ok', 'ok']);
      clock.release();
      await clock.nextLongSleep();
      expect(site.hits('/Go/List')).toBe(listHits + 2);
      stop.abort();
      await loop;
    } finally {
      sub.unsubscribe();
      stop.abort();
      await scraper.close();
    }
  });

  it('publish - without stream SCRAPE the run is failing with ScrapeStreamMissing, on the status subject too', async () => {
    await jsm.streams.delete('SCRAPE').catch(() => undefined);
    const scraper = scraperFor('grantconnect-nostream');
    const sub = nc.subscribe('scrape.status.grantconnect-nostream', { max: 1 });
    await nc.flush();
    await scraper.start();
    try {
      const summary = await scraper.runOnce();
      expect(summary.state).toBe('failing');
      expect(summary.detail).toMatch(/^ScrapeStreamMissing: .*stream SCRAPE/);
      for await (const m of sub) {
        const status = ScrapeStatus.parse(m.json());
        expect(status).toMatchObject({ state: 'failing' });
        expect(status.detail).toMatch(/ScrapeStreamMissing/);
      }
    } finally {
      await scraper.close();
    }
  });
});
