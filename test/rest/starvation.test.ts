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
import { insertGrants, startRestStack, token, type RestStack } from './harness.js';

/** Short, so the test is quick; long enough that a read of an unlocked table never reaches it on a loaded machine. */
const STATEMENT_TIMEOUT_MS = 1_500;
const POOL_SIZE = 2;

let stack: RestStack;

beforeAll(async () => {
  stack = await startRestStack({ DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`, DATABASE_POOL_SIZE: String(POOL_SIZE) });
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
