/**
 * The database pool cannot be starved from outside (issue 10 item 3), each defence on its
 * own, against real servers (a gateway process with its invalidator, a relay process, a
 * fresh database, a private nats-server):
 * - a statement past DATABASE_STATEMENT_TIMEOUT is cancelled by Postgres and answered 503
 *   `query_timeout` with Retry-After;
 * - a token's `sub` over REST_RATE_LIMIT gets 429 `rate_limited` with Retry-After;
 * - `/health` answers 200 at once while every connection of the gateway's REST pool is busy.
 *
 * A slow statement is made the deterministic way: the test holds `ACCESS EXCLUSIVE` on
 * `grants` in an open transaction, so a REST read waits for the lock (a lock wait counts
 * towards `statement_timeout`).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLog } from '../support/log.js';
import { insertGrants, startRestStack, token, type RestStack } from './harness.js';

/** Short, so the test is quick; long enough that a read of an unlocked table never reaches it on a loaded machine. */
const STATEMENT_TIMEOUT_MS = 1_500;
const POOL_SIZE = 2;
/** Requests per second per subject (bursts of twice this). */
const RATE_LIMIT = 5;

let stack: RestStack;

beforeAll(async () => {
  stack = await startRestStack({ DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`, DATABASE_POOL_SIZE: String(POOL_SIZE), REST_RATE_LIMIT: String(RATE_LIMIT) });
  await insertGrants(stack, 20);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Runs `body` while a transaction of the test holds ACCESS EXCLUSIVE on `grants`. */
async function withGrantsLocked<T>(body: () => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: stack.db.url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query('LOCK TABLE grants IN ACCESS EXCLUSIVE MODE');
    return await body();
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
}

/** A token of a subject of its own, so the rate limit of one test never touches another's. */
const fresh = () => token({ sub: `starve-${randomUUID()}`, ttlSec: 600 });

describe('starvation - statement timeout', () => {
  it('starvation - a statement past DATABASE_STATEMENT_TIMEOUT is cancelled and answered 503 query_timeout with Retry-After', async () => {
    const t = await fresh();
    // A filter no earlier request used: the page is not in the cache.
    const path = `/v1/grants?q=${randomUUID().slice(0, 8)}&limit=500`;
    const started = performance.now();
    const answer = await withGrantsLocked(() => stack.get(path, { token: t, signal: AbortSignal.timeout(STATEMENT_TIMEOUT_MS + 5_000) }));
    const tookMs = performance.now() - started;
    expect(answer.status, answer.text).toBe(503);
    expect(answer.json.error.code).toBe('query_timeout');
    expect(answer.headers.get('retry-after')).toBe('1');
    // Cancelled by the server at the timeout, not left to run.
    expect(tookMs).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 50);
    expect(tookMs).toBeLessThan(STATEMENT_TIMEOUT_MS + 5_000);
    const { rows } = await stack.sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%FROM grants g%' AND pid <> pg_backend_pid()`);
    expect(rows[0].n).toBe(0);
    // The lock gone, the same request is answered.
    expect((await stack.get(path, { token: t })).status).toBe(200);
  }, 60_000);
});

describe('starvation - health', () => {
  it("starvation - /health answers 200 at once while every connection of the gateway's REST pool is taken and requests wait for one", async () => {
    const monitor = await token({ sub: 'starve-monitor', role: 'monitor', ttlSec: 600 });
    const tokens = await Promise.all(Array.from({ length: 40 }, fresh));
    const samples: { status: number; ms: number; database: string; gateway?: { inUse: number; waiting: number; size: number } }[] = [];
    await withGrantsLocked(async () => {
      let stop = false;
      // 40 clients, each sending a new search as soon as the last was answered: the REST pool
      // (2 connections) stays taken by reads waiting for the lock, with others queued behind.
      const load = tokens.map(async (t) => {
        while (!stop) await stack.get(`/v1/grants?q=${randomUUID().slice(0, 8)}&limit=500`, { token: t });
      });
      try {
        const until = Date.now() + 4 * STATEMENT_TIMEOUT_MS;
        while (Date.now() < until) {
          const started = performance.now();
          const answer = await stack.get('/health', { token: monitor, signal: AbortSignal.timeout(3_000) });
          samples.push({ status: answer.status, ms: performance.now() - started, database: answer.json.checks.database.status, gateway: answer.json.checks.database.pools?.gateway });
        }
      } finally {
        stop = true;
        await Promise.all(load);
      }
    });
    // The REST pool was exhausted while /health was asked (not merely busy).
    expect(samples.some((s) => s.gateway && s.gateway.inUse === s.gateway.size && s.gateway.waiting > 0), JSON.stringify(samples)).toBe(true);
    for (const s of samples) {
      expect(s.status, JSON.stringify(samples)).toBe(200);
      expect(s.database).toBe('ok');
    }
    testLog.info({ samples: samples.length, slowestMs: Math.max(...samples.map((s) => s.ms)) }, 'health while the REST pool is exhausted');
  }, 60_000);
});

describe('starvation - rate limits', () => {
  it('starvation - a subject over REST_RATE_LIMIT gets 429 rate_limited with Retry-After; other subjects, /health and later requests do not', async () => {
    const t = await fresh();
    const burst = await Promise.all(Array.from({ length: 40 }, () => stack.get('/v1/grants?limit=1', { token: t })));
    const ok = burst.filter((a) => a.status === 200).length;
    const limited = burst.filter((a) => a.status === 429);
    expect(ok + limited.length, JSON.stringify(burst.map((a) => a.status))).toBe(40);
    expect(ok).toBeGreaterThanOrEqual(2 * RATE_LIMIT);
    expect(limited.length).toBeGreaterThan(0);
    for (const a of limited) {
      expect(a.json.error.code).toBe('rate_limited');
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Another subject, and /health, are not limited by it.
    expect((await stack.get('/v1/grants?limit=1', { token: await fresh() })).status).toBe(200);
    const probes = await Promise.all(Array.from({ length: 40 }, () => stack.get('/health')));
    expect(probes.every((p) => p.status === 200)).toBe(true);
    // After Retry-After, the subject is served again (the wait is the contract's, not synchronisation).
    await new Promise((r) => setTimeout(r, Number(limited[0]!.headers.get('retry-after')) * 1_000));
    expect((await stack.get('/v1/grants?limit=1', { token: t })).status).toBe(200);

    const metrics = (await stack.get('/metrics', { token: await token({ sub: 'starve-monitor-2', role: 'monitor', ttlSec: 600 }) })).text;
    const counted = /navimpact_http_rate_limited_total\{route="grants",by="subject"\} (\d+)/.exec(metrics);
    expect(Number(counted?.[1])).toBeGreaterThanOrEqual(limited.length);
  }, 60_000);

  it('starvation - requests without a valid token are limited by client address: 401, then 429', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, () => stack.get('/v1/grants?limit=1', { token: null })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(2 * RATE_LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // A valid token is keyed by its subject, not by the address it shares.
    expect((await stack.get('/v1/grants?limit=1', { token: await fresh() })).status).toBe(200);
  }, 60_000);
});
