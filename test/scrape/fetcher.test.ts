/**
 * Acceptance 5: the polite fetcher against a local server. Time is a FakeClock: every
 * wait the fetcher asks for is recorded and passes instantly, so a 7-second Retry-After
 * or a 30-minute breaker cooldown is asserted, not slept. The block test runs the whole
 * scraper (config, fetcher, status reporter) against a private nats-server and watches
 * `scrape.status.<source>` like the gateway does.
 */
import { gzipSync } from 'node:zlib';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ScrapeStatus } from '../../src/domain/scrape-status.js';
import { loadScrapeConfig } from '../../src/scrape/config.js';
import { HostBlockedError, HttpStatusError, NetworkError, ResponseTooLargeError, RobotsDisallowedError } from '../../src/scrape/errors.js';
import { PoliteFetcher, type FetcherOptions } from '../../src/scrape/fetcher.js';
import { Scraper } from '../../src/scrape/scraper.js';
import { GrantConnectSource } from '../../src/scrape/sources/grantconnect.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';
import { CLOUDFLARE_CHALLENGE, FakeClock, FixtureSite } from './site.js';

const UA = 'NavImpactLiveBot/0.1.0 (+mailto:scrapers@navimpact.example)';

function fetcherFor(clock: FakeClock, overrides: Partial<FetcherOptions> = {}): PoliteFetcher {
  return new PoliteFetcher({
    userAgent: UA,
    robotsToken: 'NavImpactLiveBot',
    minDelayMs: 0,
    jitterMs: 0,
    timeoutMs: 5_000,
    maxBytes: 1024 * 1024,
    retries: 3,
    backoffBaseMs: 1_000,
    backoffMaxMs: 8_000,
    maxRetryAfterMs: 60_000,
    breakerCooldownMs: 1_800_000,
    breakerMaxCooldownMs: 86_400_000,
    log: testLog,
    clock,
    // Full jitter draws uniformly in [0, ceiling); a fixed draw of 0.5 makes it exact.
    random: () => 0.5,
    ...overrides,
  });
}

describe('scrape fetcher', () => {
  let site: FixtureSite;
  let clock: FakeClock;
  let fetcher: PoliteFetcher;

  beforeEach(async () => {
    site = await FixtureSite.start();
    clock = new FakeClock();
    site.clock = clock;
    fetcher = fetcherFor(clock);
  });

  afterEach(async () => {
    await fetcher.close();
    await site.close();
  });

  it('fetcher - sends the honest User-Agent with its contact address', async () => {
    site.route('/page', { body: '<p>hi</p>' });
    await fetcher.get(site.url('/page'));
    const seen = site.requests.filter((r) => r.path === '/page' || r.path === '/robots.txt');
    expect(seen.map((r) => r.path)).toEqual(['/robots.txt', '/page']);
    for (const r of seen) expect(r.headers['user-agent']).toBe(UA);
  });

  it('fetcher - 429 with Retry-After in seconds: waits that long, then gets the page', async () => {
    site.route('/list', [{ status: 429, headers: { 'retry-after': '7' }, body: 'slow down' }, { body: '<p>list</p>' }]);
    const result = await fetcher.get(site.url('/list'));
    expect(result.body).toBe('<p>list</p>');
    expect(site.hits('/list')).toBe(2);
    expect(clock.sleeps).toContain(7_000);
    const [first, second] = site.requests.filter((r) => r.path === '/list');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(7_000);
  });

  it('fetcher - 503 with Retry-After as an HTTP date: waits until that date', async () => {
    const at = new Date(Math.ceil((clock.now() + 12_000) / 1000) * 1000);
    site.route('/list', [{ status: 503, headers: { 'retry-after': at.toUTCString() } }, { body: 'ok' }]);
    await fetcher.get(site.url('/list'));
    const [first, second] = site.requests.filter((r) => r.path === '/list');
    expect(second!.at).toBeGreaterThanOrEqual(at.getTime());
    expect(second!.at - first!.at).toBeLessThanOrEqual(13_000);
  });

  it('fetcher - 503 is retried with exponential backoff and full jitter, then succeeds', async () => {
    site.route('/list', [{ status: 503 }, { status: 503 }, { status: 502 }, { body: 'finally' }]);
    const result = await fetcher.get(site.url('/list'));
    expect(result.body).toBe('finally');
    expect(site.hits('/list')).toBe(4);
    // random() = 0.5 of ceilings 1 s, 2 s, 4 s.
    expect(clock.sleeps).toEqual([500, 1_000, 2_000]);
  });

  it('fetcher - a 5xx that outlasts the retries fails with the status, after retries + 1 requests', async () => {
    site.route('/list', { status: 500 });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HttpStatusError);
    expect(site.hits('/list')).toBe(4);
  });

  it('fetcher - a dropped connection is retried as a network error', async () => {
    site.route('/list', [{ destroy: true }, { body: 'after reset' }]);
    expect((await fetcher.get(site.url('/list'))).body).toBe('after reset');
    expect(site.hits('/list')).toBe(2);
    site.route('/gone', { destroy: true });
    await expect(fetcher.get(site.url('/gone'))).rejects.toBeInstanceOf(NetworkError);
  });

  it('fetcher - a 403 challenge page opens the breaker: no request reaches the host until the probe', async () => {
    const blocked: string[] = [];
    await fetcher.close();
    fetcher = fetcherFor(clock, { onBlocked: (e) => blocked.push(e.reason) });
    site.route('/list', [{ status: 403, body: CLOUDFLARE_CHALLENGE }, { body: 'welcome back' }]);
    site.route('/other', { body: 'other page' });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatch(/Just a moment/);
    const before = site.requests.length;
    // Any page of the host, while the breaker is open: refused locally.
    await expect(fetcher.get(site.url('/other'))).rejects.toBeInstanceOf(HostBlockedError);
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    clock.advance(1_800_000 - 1);
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    expect(site.requests.length).toBe(before);
    // Cooldown over: one probe goes out, succeeds, and the breaker closes.
    clock.advance(1);
    expect((await fetcher.get(site.url('/list'))).body).toBe('welcome back');
    expect(site.hits('/list')).toBe(2);
    expect(fetcher.breakerOf(new URL(site.origin).host).state).toBe('closed');
    expect((await fetcher.get(site.url('/other'))).body).toBe('other page');
  });

  it('fetcher - a challenge page served with 200 is a block too; a refused probe doubles the cooldown', async () => {
    site.route('/list', { status: 200, body: CLOUDFLARE_CHALLENGE });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    clock.advance(1_800_000);
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    expect(site.hits('/list')).toBe(2);
    const breaker = fetcher.breakerOf(new URL(site.origin).host);
    expect(breaker.reopensAt - clock.now()).toBe(3_600_000);
  });

  it('fetcher - a storm of 429s opens the breaker instead of retrying forever', async () => {
    site.route('/list', { status: 429, headers: { 'retry-after': '1' } });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    expect(site.hits('/list')).toBe(4);
  });

  it('fetcher - a plain 403 opens the breaker', async () => {
    site.route('/list', { status: 403, body: 'Forbidden' });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(HostBlockedError);
    expect(site.hits('/list')).toBe(1);
  });

  it('fetcher - robots.txt: our group is obeyed over *, and a disallowed URL is never requested', async () => {
    site.route('/robots.txt', {
      headers: { 'content-type': 'text/plain' },
      body: ['User-agent: *', 'Disallow: /', '', 'User-agent: NavImpactLiveBot', 'Disallow: /Go/Show', 'Allow: /Go/Show/public$', 'Disallow: /*.pdf$', ''].join('\n'),
    });
    site.route('/Go/List', { body: 'list' });
    site.route('/Go/Show?GoUuid=1', { body: 'secret' });
    site.route('/Go/Show/public', { body: 'public' });
    site.route('/guidelines.pdf', { body: 'pdf' });
    expect((await fetcher.get(site.url('/Go/List'))).body).toBe('list');
    await expect(fetcher.get(site.url('/Go/Show?GoUuid=1'))).rejects.toBeInstanceOf(RobotsDisallowedError);
    expect((await fetcher.get(site.url('/Go/Show/public'))).body).toBe('public');
    await expect(fetcher.get(site.url('/guidelines.pdf'))).rejects.toBeInstanceOf(RobotsDisallowedError);
    expect(site.hits('/Go/Show?GoUuid=1')).toBe(0);
    expect(site.hits('/guidelines.pdf')).toBe(0);
    expect(site.hits('/robots.txt')).toBe(1);
  });

  it('fetcher - robots.txt for * applies when no group names us; a 404 robots.txt allows all', async () => {
    site.route('/robots.txt', { headers: { 'content-type': 'text/plain' }, body: 'User-agent: OtherBot\nDisallow:\n\nUser-agent: *\nDisallow: /grants/private\n' });
    site.route('/grants/private/1', { body: 'no' });
    await expect(fetcher.get(site.url('/grants/private/1'))).rejects.toBeInstanceOf(RobotsDisallowedError);
    expect(site.hits('/grants/private/1')).toBe(0);

    const other = await FixtureSite.start();
    try {
      other.route('/robots.txt', { status: 404 });
      other.route('/anything', { body: 'yes' });
      expect((await fetcher.get(other.url('/anything'))).body).toBe('yes');
    } finally {
      await other.close();
    }
  });

  it('fetcher - a robots.txt that answers 5xx disallows the whole site (RFC 9309)', async () => {
    site.route('/robots.txt', { status: 500 });
    site.route('/list', { body: 'list' });
    await expect(fetcher.get(site.url('/list'))).rejects.toBeInstanceOf(RobotsDisallowedError);
    expect(site.hits('/list')).toBe(0);
  });

  it('fetcher - 304 reuses the previous result (ETag and Last-Modified)', async () => {
    site.route('/etag', (req) => (req.headers['if-none-match'] === '"v1"' ? { status: 304 } : { headers: { etag: '"v1"', 'content-type': 'text/html' }, body: 'page v1' }));
    const lastModified = 'Wed, 25 Nov 2026 10:00:00 GMT';
    site.route('/lm', (req) =>
      req.headers['if-modified-since'] === lastModified ? { status: 304 } : { headers: { 'last-modified': lastModified, 'content-type': 'text/html' }, body: 'page lm' },
    );
    const first = await fetcher.get(site.url('/etag'));
    const second = await fetcher.get(site.url('/etag'));
    expect(first).toMatchObject({ body: 'page v1', notModified: false });
    expect(second).toMatchObject({ body: 'page v1', notModified: true, status: 200 });
    expect(site.requests.filter((r) => r.path === '/etag').map((r) => r.headers['if-none-match'])).toEqual([undefined, '"v1"']);
    expect((await fetcher.get(site.url('/lm'))).notModified).toBe(false);
    expect(await fetcher.get(site.url('/lm'))).toMatchObject({ body: 'page lm', notModified: true });
  });

  it('fetcher - one request at a time per host, with the minimum delay between them', async () => {
    await fetcher.close();
    fetcher = fetcherFor(clock, { minDelayMs: 2_000, jitterMs: 1_000 });
    for (const n of [1, 2, 3, 4]) site.route(`/p${n}`, { body: `page ${n}` });
    const bodies = await Promise.all([1, 2, 3, 4].map((n) => fetcher.get(site.url(`/p${n}`))));
    expect(bodies.map((b) => b.body)).toEqual(['page 1', 'page 2', 'page 3', 'page 4']);
    expect(site.maxConcurrent).toBe(1);
    const times = site.requests.map((r) => r.at);
    // robots.txt, then four pages, each at least 2 s + 0.5 * 1 s after the one before.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(2_500);
  });

  it('fetcher - bodies are decompressed and bounded', async () => {
    await fetcher.close();
    fetcher = fetcherFor(clock, { maxBytes: 10_000 });
    site.route('/gz', { headers: { 'content-encoding': 'gzip', 'content-type': 'text/html' }, body: gzipSync('<p>zipped</p>') });
    expect((await fetcher.get(site.url('/gz'))).body).toBe('<p>zipped</p>');
    // 1 MB of zeros is 1 KB gzipped: the limit applies to what it inflates to.
    site.route('/bomb', { headers: { 'content-encoding': 'gzip', 'content-type': 'text/html' }, body: gzipSync(Buffer.alloc(1024 * 1024)) });
    await expect(fetcher.get(site.url('/bomb'))).rejects.toBeInstanceOf(ResponseTooLargeError);
    site.route('/big', { body: 'x'.repeat(20_000) });
    await expect(fetcher.get(site.url('/big'))).rejects.toBeInstanceOf(ResponseTooLargeError);
  });

  it('fetcher - follows a redirect to the same host', async () => {
    site.route('/old', { status: 301, headers: { location: '/new' } });
    site.route('/new', { body: 'moved here' });
    const result = await fetcher.get(site.url('/old'));
    expect(result).toMatchObject({ body: 'moved here', url: site.url('/new') });
  });
});

describe('scrape fetcher - blocked status on NATS', () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let site: FixtureSite;

  beforeAll(async () => {
    nats = await PrivateNats.start();
    nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  beforeEach(async () => {
    site = await FixtureSite.start();
  });
  afterEach(async () => {
    await site.close();
  });

  it('scraper - a 403 challenge publishes blocked on scrape.status.<source>, skips runs until the probe, then recovers to ok', async () => {
    const clock = new FakeClock();
    site.clock = clock;
    const source = 'gc-blocked';
    const config = loadScrapeConfig({
      NATS_URL: nats.url,
      SCRAPER_CONTACT: 'scrapers@navimpact.example',
      SCRAPE_MIN_DELAY: '0ms',
      SCRAPE_JITTER: '0ms',
      SCRAPE_BREAKER_COOLDOWN: '30m',
      LOG_LEVEL: 'silent',
    });
    const scraper = new Scraper({ config, source: new GrantConnectSource(source, site.origin), version: '0.1.0', log: testLog, clock, random: () => 0 });
    const statuses: ScrapeStatus[] = [];
    const waiters: { test: (s: ScrapeStatus) => boolean; resolve: (s: ScrapeStatus) => void }[] = [];
    const sub = nc.subscribe(`scrape.status.${source}`);
    void (async () => {
      for await (const m of sub) {
        const status = ScrapeStatus.parse(m.json());
        statuses.push(status);
        for (const w of [...waiters]) if (w.test(status)) w.resolve(status);
      }
    })();
    const nextStatus = (test: (s: ScrapeStatus) => boolean) => new Promise<ScrapeStatus>((resolve) => waiters.push({ test, resolve }));
    await nc.flush();

    site.route('/Go/List', { status: 403, headers: { 'content-type': 'text/html; charset=UTF-8', 'cf-mitigated': 'challenge' }, body: CLOUDFLARE_CHALLENGE });
    try {
      await scraper.start();
      const blocked = nextStatus((s) => s.state === 'blocked');
      const first = await scraper.runOnce();
      expect(first.state).toBe('blocked');
      const status = await blocked;
      expect(status.detail).toMatch(/challenge/i);
      expect(Date.parse(status.at)).toBe(clock.now());
      expect(site.hits('/Go/List')).toBe(1);

      // The next run, before the cooldown ends: not one request to the site.
      const requestsBefore = site.requests.length;
      clock.advance(29 * 60_000);
      expect((await scraper.runOnce()).state).toBe('blocked');
      expect(site.requests.length).toBe(requestsBefore);

      // After the cooldown the run's first request is the probe; the site lets us in again.
      clock.advance(60_000);
      site.file('/Go/List', 'grantconnect/list-2.html');
      site.file('/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e03', 'grantconnect/show-GO7103.html');
      const ok = nextStatus((s) => s.state === 'ok');
      const third = await scraper.runOnce();
      expect(third).toMatchObject({ state: 'ok', found: 1, published: 1 });
      expect((await ok).detail).toMatch(/1 found, 1 published/);
      expect(site.hits('/Go/List')).toBe(2);
      expect(statuses.map((s) => s.state)).toEqual(['blocked', 'blocked', 'ok']);
    } finally {
      sub.unsubscribe();
      await scraper.close();
    }
  });

});
