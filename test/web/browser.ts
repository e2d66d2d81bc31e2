/**
 * Real Chromium for the page tests (issue 13): Debian's `chromium` driven by playwright-core
 * (scripts/test.sh installs it when missing; never `npx playwright install`), a fresh
 * profile per launch, and the pages built once per file into a directory of their own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildWeb } from '../../scripts/build-web.js';
import { ORIGIN } from '../gateway/harness.js';
import { freePort } from '../support/ports.js';

/**
 * A port for the gateway and CORS_ORIGINS listing the page's origin on it (CONTRACT section
 * 5: a WebSocket upgrade from an origin not listed is refused, the gateway's own included).
 */
export async function pageOrigin(): Promise<{ PORT: string; CORS_ORIGINS: string }> {
  const port = await freePort();
  return { PORT: String(port), CORS_ORIGINS: `${ORIGIN},http://127.0.0.1:${port}` };
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the pages into a fresh directory (the gateway's WEB_DIR); removed by `cleanup`. */
export async function builtPages(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'navimpact-web-'));
  await buildWeb(dir, { minify: process.env.WEB_MINIFY !== '0' });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface Browser {
  context: BrowserContext;
  /** A new page whose console errors and CSP violations are kept. */
  page(): Promise<WatchedPage>;
  close(): Promise<void>;
}

export interface WatchedPage {
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
}

export async function launch(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'navimpact-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
  return {
    context,
    async page() {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      return { page, problems };
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** axe-core in the page (evaluated over CDP, so the page's CSP need not allow it): serious and critical violations. */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  const axe = await import('axe-core');
  await page.evaluate(`${axe.default.source}; 0`);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } };
    const result = await w.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

/** The board's rows as id -> version, as the DOM shows them. */
export function boardRows(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll<HTMLTableRowElement>('#board tbody tr')).map((tr) => [tr.dataset.id!, Number(tr.dataset.version)])));
}
