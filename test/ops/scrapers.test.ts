/**
 * Issue 10 item 7, the scraper watch: a gateway (relay, private nats-server, Postgres)
 * hears 300 sources once and then never again (retired), while one source keeps
 * reporting. After SCRAPER_FORGET_AFTER the retired ones are gone from `/health` and from
 * `/metrics`, and `/health`'s scrapers check is ok again; the live source stays.
 */
import { connect as natsConnect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, token, type Stack } from '../gateway/harness.js';
import { hasCode } from '../support/service.js';

let stack: Stack;

beforeAll(async () => {
  // Durations short enough to be seen passing in a test; the defaults are 13 h and 7 d.
  stack = await startStack({ SCRAPER_STALE_AFTER: '2s', SCRAPER_FORGET_AFTER: '4s' });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

function status(nc: NatsConnection, source: string, state: string): void {
  nc.publish(`scrape.status.${source}`, JSON.stringify({ state, at: new Date().toISOString() }));
}

async function health(): Promise<{ status: string; sources: Record<string, { up: boolean }> }> {
  const res = await fetch(`http://127.0.0.1:${stack.port}/health`, { headers: { authorization: `Bearer ${await token({ role: 'monitor' })}` } });
  const body = (await res.json()) as { checks: { scrapers: { status: string; sources: Record<string, { up: boolean }> } } };
  return body.checks.scrapers;
}

async function scraperSeries(): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${stack.port}/metrics`, { headers: { authorization: `Bearer ${await token({ role: 'monitor' })}` } });
  return (await res.text()).split('\n').filter((l) => l.startsWith('navimpact_scraper_') && l.includes('source="retired-'));
}

describe('scraper watch', () => {
  it('scraper watch - 300 sources heard once then retired: forgotten after SCRAPER_FORGET_AFTER (health ok again, series removed), a source that keeps reporting stays', async () => {
    const nc = await natsConnect({ servers: stack.nats.url });
    // Retired sources: one status each, failing, so they degrade /health while known.
    for (let i = 0; i < 300; i++) status(nc, `retired-${i}`, 'failing');
    status(nc, 'live', 'ok');
    await nc.flush();
    await expect.poll(async () => Object.keys((await health()).sources).length, { timeout: 10_000, interval: 100 }).toBe(301);
    expect((await health()).status).toBe('degraded');
    expect((await scraperSeries()).length).toBeGreaterThanOrEqual(300);

    // The live source keeps reporting, as a scraper's heartbeat does.
    const beat = setInterval(() => status(nc, 'live', 'ok'), 250);
    try {
      // Sources are forgotten when the watch is read (by /health or a scrape of /metrics).
      await expect.poll(async () => Object.keys((await health()).sources), { timeout: 20_000, interval: 200 }).toEqual(['live']);
      const after = await health();
      expect(after.status).toBe('ok');
      expect(after.sources.live!.up).toBe(true);
      expect(await scraperSeries()).toEqual([]);
      await expect.poll(() => stack.gateway.lines.filter(hasCode('ScraperForgotten')).length, { timeout: 5_000 }).toBe(300);
    } finally {
      clearInterval(beat);
      await nc.close();
    }
  }, 60_000);
});
