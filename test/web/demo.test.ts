/**
 * `npm run demo` (issue 13, "a first run that shows something"): demo grants go through
 * the real path (NATS stream SCRAPE as a scraper publishes, ingest, Postgres, relay) and then
 * keep changing, a few a second, until Ctrl-C.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../support/process.js';
import { startRestStack, type RestStack } from '../rest/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let stack: RestStack;

beforeAll(async () => {
  stack = await startRestStack({ ROLES: 'gateway,ingest' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const demo = (args: string[]) => start(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NATS_URL: stack.nats.url } });

async function until(test: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200)); // polling the database: there is no event to await
  }
}

describe('web demo', () => {
  it('web demo - npm run demo publishes grants as a scraper would; ingest writes them; then they keep changing until Ctrl-C', async () => {
    const seeding = demo(['--grants', '60', '--once']);
    expect((await seeding.exited).code, seeding.lines.join('\n')).toBe(0);
    await until(async () => (await stack.sql(`SELECT count(*)::int AS n FROM grants WHERE source = 'demo'`)).rows[0].n === 60, '60 demo grants').catch(async (err: Error) => {
      const n = (await stack.sql(`SELECT count(*)::int AS n FROM grants`)).rows[0].n;
      throw new Error(`${err.message}: ${n} grants; ${stack.gateway.lines.filter((l) => /eject|Ingest/.test(l)).slice(-5).join('\n')}`);
    });
    const { rows } = await stack.sql(`SELECT count(*)::int AS n FROM grants WHERE source = 'demo' AND max_amount IS NOT NULL AND close_date IS NOT NULL AND status IS NOT NULL`);
    expect(rows[0].n).toBe(60);

    const live = demo(['--grants', '60', '--rate', '10']);
    await live.waitFor((l) => l.includes('"code":"DemoChanging"'), 30_000, 'DemoChanging');
    await until(async () => (await stack.sql(`SELECT count(*)::int AS n FROM grants WHERE source = 'demo' AND version > 1`)).rows[0].n >= 5, 'changed demo grants');
    live.proc.kill('SIGINT');
    expect((await live.exited).code).toBe(0);
  }, 90_000);
});
