/**
 * `/health` with its dependencies going away (CONTRACT section 6): 503 when Postgres or NATS
 * cannot be reached, 200 again when they are back, answered within the checks' deadline.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SECRET } from '../gateway/harness.js';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { PrivatePostgres } from '../support/postgres.js';
import { hasCode, startService } from '../support/service.js';
import type { Child } from '../support/process.js';

let pg: PrivatePostgres | undefined;
let nats: PrivateNats | undefined;
let gateway: Child | undefined;

afterAll(async () => {
  await gateway?.kill('SIGKILL');
  await nats?.stop();
  await pg?.stop();
});

async function health(port: number): Promise<{ status: number; body: { status: string; checks: Record<string, { status: string }> } }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: res.status, body: (await res.json()) as never };
}

describe('health - dependencies away', () => {
  it('answers 503 while Postgres or NATS is down, and 200 when they are back', async () => {
    pg = await PrivatePostgres.start();
    nats = await PrivateNats.start();
    const port = await freePort();
    gateway = startService({ DATABASE_URL: pg.url('navimpact'), NATS_URL: nats.url, ROLES: 'gateway', PORT: String(port), JWT_SECRET: SECRET, CACHE_PREFIX: `h${port}:` });
    await gateway.waitFor(hasCode('GatewayListening'), 30_000);
    await expect.poll(async () => (await health(port)).status, { timeout: 10_000 }).toBe(200);

    await pg.down('immediate');
    const down = await health(port);
    expect(down.status).toBe(503);
    expect(down.body.checks.database!.status).toBe('down');
    await pg.up();
    await expect.poll(async () => (await health(port)).status, { timeout: 15_000, interval: 100 }).toBe(200);

    await nats.down('SIGKILL');
    await expect.poll(async () => (await health(port)).body.checks.nats!.status, { timeout: 10_000, interval: 100 }).toBe('down');
    expect((await health(port)).status).toBe(503);
    await nats.up();
    await expect.poll(async () => (await health(port)).status, { timeout: 20_000, interval: 100 }).toBe(200);
  }, 120_000);
});
