/**
 * Tokens of the pages (issue 13, acceptance 3): the board served with TOKEN_URL gets
 * its token from that endpoint (a local test server standing in for the host application,
 * called with credentials), and a new one before each expires, without a reload; the
 * connection stays live past the first token's expiry and changes keep arriving.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { ORIGIN } from '../gateway/harness.js';
import { insertGrants, startRestStack, token, type RestStack } from '../rest/harness.js';
import { boardRows, builtPages, launch, type Browser } from './browser.js';

const TTL_SEC = 8;
let stack: RestStack;
let browser: Browser;
let pages: Awaited<ReturnType<typeof builtPages>>;
let tokenServer: Server;
const issued: { at: number; cookie: string | undefined; exp: number }[] = [];

beforeAll(async () => {
  pages = await builtPages();
  const tokenPort = await freePort();
  const gatewayPort = await freePort();
  tokenServer = createServer((req, res) => {
    // The host application: a cookie session, CORS with credentials for the gateway's page.
    res.setHeader('access-control-allow-origin', `http://127.0.0.1:${gatewayPort}`);
    res.setHeader('access-control-allow-credentials', 'true');
    res.setHeader('vary', 'Origin');
    const exp = Math.floor(Date.now() / 1000) + TTL_SEC;
    issued.push({ at: Date.now(), cookie: req.headers.cookie, exp });
    void token({ sub: 'token-page', ttlSec: TTL_SEC }).then((t) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: t }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(tokenPort, '127.0.0.1', resolve));
  stack = await startRestStack({
    ROLES: 'gateway',
    PORT: String(gatewayPort),
    CORS_ORIGINS: `${ORIGIN},http://127.0.0.1:${gatewayPort}`,
    WEB_DIR: pages.dir,
    TOKEN_URL: `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/session/token`,
    GATEWAY_EXPIRING_NOTICE: '2s',
  });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await new Promise((resolve) => tokenServer?.close(resolve));
  await pages?.cleanup();
});

describe('web token', () => {
  it('web token - the page gets its token from TOKEN_URL, and a new one before it expires, without a reload', async () => {
    const ids = await insertGrants(stack, 5);
    await browser.context.addCookies([{ name: 'session', value: 'host-app', domain: '127.0.0.1', path: '/' }]);
    const { page, problems } = await browser.page();
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    await page.goto(`http://127.0.0.1:${stack.port}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 });
    expect(issued.length).toBeGreaterThanOrEqual(1);
    expect(issued[0]!.cookie).toContain('session=host-app');
    const firstExpiry = issued[0]!.exp * 1000;

    // Past the first token's expiry (and a second's), still live on the same page.
    await page.waitForFunction((until) => Date.now() > until, firstExpiry + 1_500, { timeout: 20_000, polling: 250 });
    expect(issued.length).toBeGreaterThanOrEqual(2);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    await stack.sql(`UPDATE grants SET title = 'After the first token' WHERE id = $1`, [ids[0]]);
    await page.waitForSelector(`tr[data-id="${ids[0]}"][data-version="2"]`, { timeout: 10_000 });
    expect(Object.keys(await boardRows(page)).sort()).toEqual([...ids].sort());
    expect(navigations).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
