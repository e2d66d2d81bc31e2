/**
 * `npm run scrape -- --source NAME --once` end to end, as an operator runs it: a child
 * process configured only by its environment and a sources file, a generic source (no
 * code) and a built-in one pointed at a local fixture site, a private nats-server with
 * stream SCRAPE.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeStatus } from '../../src/domain/scrape-status.js';
import { PrivateNats } from '../support/nats.js';
import { SHIRE_SOURCE } from './sources.js';
import { FixtureSite } from './site.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScrape(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', 'scrape', '--', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('scrape cli', () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let site: FixtureSite;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    nats = await PrivateNats.start();
    nc = await connect({ servers: nats.url });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 });
    site = await FixtureSite.start();
    site.file('/grants', 'generic/council-grants.html');
    site.file('/grants/community-strengthening-2027', 'generic/grant-community-strengthening-2027.html');
    site.file('/grants/festivals-and-events-2027', 'generic/grant-festivals-and-events-2027.html');
    site.file('/vic/grants', 'vic-gov-au/grants-page-1.html');
    // Page 1 links its next page as the real site does, at /grants?page=2.
    site.file('/grants?page=2', 'vic-gov-au/grants-page-2.html');
    dir = mkdtempSync(join(tmpdir(), 'navimpact-scrape-cli-'));
    writeFileSync(
      join(dir, 'sources.json'),
      JSON.stringify({
        sources: [
          { ...SHIRE_SOURCE, startUrl: site.url('/grants') },
          { name: 'vic-gov-au', kind: 'vic-gov-au', baseUrl: site.origin, startPath: '/vic/grants' },
        ],
      }),
    );
    env = {
      NATS_URL: nats.url,
      SCRAPER_CONTACT: 'scrapers@navimpact.example',
      SCRAPE_SOURCES_FILE: join(dir, 'sources.json'),
      SCRAPE_MIN_DELAY: '0ms',
      SCRAPE_JITTER: '0ms',
      SCRAPE_RETRIES: '1',
      SCRAPE_BACKOFF_BASE: '10ms',
      LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    await site?.close();
    await nc?.close();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrape cli - --once runs a generic source from the sources file and publishes its records and status', async () => {
    const statuses: ScrapeStatus[] = [];
    const sub = nc.subscribe('scrape.status.example-shire', { callback: (_err, m) => statuses.push(ScrapeStatus.parse(m.json())) });
    await nc.flush();
    const run = await runScrape(['--source', 'example-shire', '--once'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const finished = logLines(run.stdout).find((l) => l.code === 'ScrapeRunFinished');
    expect(finished).toMatchObject({ level: 'info', source: 'example-shire', state: 'ok', found: 2, published: 2 });

    const info = await jsm.streams.info('SCRAPE', { subjects_filter: 'scrape.grants.example-shire' });
    expect(info.state.subjects).toEqual({ 'scrape.grants.example-shire': 2 });
    // The process published its status and drained before it exited.
    await nc.flush();
    expect(statuses.map((s) => s.state)).toEqual(['ok']);
    sub.unsubscribe();
    expect(site.requests.find((r) => r.path === '/grants')?.headers['user-agent']).toBe('NavImpactLiveBot/0.1.0 (+scrapers@navimpact.example)');

    // Again: nothing new reaches the stream.
    const again = await runScrape(['--source', 'example-shire', '--once'], env);
    expect(again.code).toBe(0);
    expect(logLines(again.stdout).find((l) => l.code === 'ScrapeRunFinished')).toMatchObject({ published: 0, duplicates: 2 });
    expect((await jsm.streams.info('SCRAPE', { subjects_filter: 'scrape.grants.example-shire' })).state.subjects).toEqual({ 'scrape.grants.example-shire': 2 });
  });

  it('scrape cli - a built-in source pointed elsewhere by the sources file; a failed detail page leaves the run degraded', async () => {
    // Only the list pages are served here: the three detail pages answer 404.
    const run = await runScrape(['--source', 'vic-gov-au', '--once'], env);
    expect(run.code).toBe(0);
    const lines = logLines(run.stdout);
    expect(lines.find((l) => l.code === 'ScrapeRunFinished')).toMatchObject({ source: 'vic-gov-au', state: 'degraded', found: 3, published: 3 });
    expect(lines.filter((l) => l.code === 'ScrapeFetchFailed' && l.level === 'warn')).toHaveLength(3);
  });

  it('scrape cli - a blocked site exits 75 and logs ScrapeHostBlocked', async () => {
    const blockedSite = await FixtureSite.start();
    try {
      blockedSite.route('/Go/List', { status: 403, body: '<html><head><title>Attention Required! | Cloudflare</title></head></html>' });
      writeFileSync(join(dir, 'blocked.json'), JSON.stringify({ sources: [{ name: 'grantconnect', kind: 'grantconnect', baseUrl: blockedSite.origin }] }));
      const run = await runScrape(['--source', 'grantconnect', '--once'], { ...env, SCRAPE_SOURCES_FILE: join(dir, 'blocked.json') });
      expect(run.code).toBe(75);
      const lines = logLines(run.stdout);
      expect(lines.find((l) => l.code === 'ScrapeHostBlocked')).toMatchObject({ level: 'warn', reason: expect.stringMatching(/Attention Required/) });
      expect(lines.find((l) => l.code === 'ScrapeRunFinished')).toMatchObject({ state: 'blocked' });
      expect(blockedSite.hits('/Go/List')).toBe(1);
    } finally {
      await blockedSite.close();
    }
  });

  it('scrape cli - usage and configuration errors are one stderr line with a sysexits code', async () => {
    const unknown = await runScrape(['--source', 'nope', '--once'], env);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/unknown source "nope"; known: .*example-shire.*grantconnect/);

    const noSource = await runScrape(['--once'], env);
    expect(noSource.code).toBe(64);
    expect(noSource.stderr).toMatch(/--source is required/);

    const { SCRAPER_CONTACT: _, ...noContact } = env;
    const config = await runScrape(['--source', 'example-shire', '--once'], noContact);
    expect(config.code).toBe(78);
    expect(config.stderr).toMatch(/^navimpact scrape: configuration: SCRAPER_CONTACT /);

    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ sources: [{ name: 'x', kind: 'html', startUrl: 'ftp://x', list: { item: 'a' }, fields: {} }] }));
    const badFile = await runScrape(['--source', 'x', '--once'], { ...env, SCRAPE_SOURCES_FILE: join(dir, 'bad.json') });
    expect(badFile.code).toBe(78);
    expect(badFile.stderr).toMatch(/SCRAPE_SOURCES_FILE .*bad\.json: sources\.0\.startUrl/);

    const unreachable = await runScrape(['--source', 'example-shire', '--once'], { ...env, NATS_URL: 'nats://127.0.0.1:1' });
    expect(unreachable.code).toBe(69);
    expect(unreachable.stderr).toMatch(/cannot connect to NATS/);
  }, 90_000); // five scraper processes, one after another: seconds each on a loaded machine
});
