/**
 * The ops page in real Chromium (issue 13, acceptance 4 and 6 for `/ops`), against a real
 * stack: the connection count follows 50 test clients in and out; a scraper whose status
 * (published on NATS `scrape.status.<source>`, CONTRACT section 4) is `blocked` shows as
 * blocked; axe-core finds no serious or critical violation.
 */
import { connect as natsConnect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Client } from '../gateway/harness.js';
import { startRestStack, token, type RestStack } from '../rest/harness.js';
import { pageOrigin, axeViolations, builtPages, launch, type Browser } from './browser.js';

let stack: RestStack;
let browser: Browser;
let pages: Awaited<ReturnType<typeof builtPages>>;
let nc: NatsConnection;

beforeAll(async () => {
  pages = await builtPages();
  stack = await startRestStack({ ...(await pageOrigin()), ROLES: 'gateway', WEB_DIR: pages.dir });
  nc = await natsConnect({ servers: stack.nats.url });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await nc?.close();
  await stack?.stop();
  await pages?.cleanup();
});

async function openOps() {
  const watched = await browser.page();
  const monitor = await token({ sub: 'ops-page', role: 'monitor', ttlSec: 3_600 });
  await watched.page.goto(`http://127.0.0.1:${stack.port}/ops#token=${monitor}`);
  await watched.page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 });
  await watched.page.waitForSelector('#m-connections[data-value]:not([data-value=""])', { timeout: 15_000 });
  return watched;
}

const connections = (watched: Awaited<ReturnType<typeof openOps>>) => watched.page.evaluate(() => Number(document.getElementById('m-connections')!.dataset.value));

describe('web ops', () => {
  it('web ops - the connection count rises with 50 test clients and falls when they leave; a blocked scraper shows as blocked', async () => {
    const watched = await openOps();
    const { page } = watched;
    const before = await connections(watched);
    expect(before).toBeGreaterThanOrEqual(1); // the page itself
    const clients: Client[] = await Promise.all(Array.from({ length: 50 }, async (_, i) => connect(stack.port, { token: await token({ sub: `ops-client-${i}` }) })));
    await page.waitForFunction((n) => Number(document.getElementById('m-connections')!.dataset.value) >= n, before + 50, { timeout: 15_000 });
    await page.waitForSelector('#c-connections canvas');
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed));
    await page.waitForFunction((n) => Number(document.getElementById('m-connections')!.dataset.value) <= n, before, { timeout: 15_000 });

    nc.publish('scrape.status.grantconnect', JSON.stringify({ state: 'ok', at: new Date().toISOString() }));
    nc.publish('scrape.status.vic', JSON.stringify({ state: 'blocked', at: new Date().toISOString(), detail: '403 from www.vic.gov.au' }));
    await nc.flush();
    await page.waitForSelector('#scrapers tr[data-source="vic"][data-state="blocked"]', { timeout: 15_000 });
    expect(await page.locator('#scrapers tr[data-source="vic"] td').first().textContent()).toBe('blocked');
    expect(await page.locator('#scrapers tr[data-source="grantconnect"]').getAttribute('data-state')).toBe('ok');
    // Every health check is listed, the scrapers check degraded by the blocked source.
    await page.waitForSelector('#health tr[data-check="scrapers"] td.state-degraded', { timeout: 10_000 });
    expect(await page.locator('#health tr[data-check="database"] td').first().textContent()).toBe('ok');
    expect(watched.problems).toEqual([]);
    await page.close();
  }, 90_000);

  it('web ops - axe-core finds no serious or critical violation on the ops page', async () => {
    const watched = await openOps();
    await watched.page.waitForSelector('#health tbody tr', { timeout: 10_000 });
    expect(await axeViolations(watched.page)).toEqual([]);
    expect(watched.problems).toEqual([]);
    await watched.page.close();
  });
});
