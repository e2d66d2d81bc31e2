/**
 * The cache never serves stale data (issue 4, acceptance 1-4), against real Postgres, Redis
 * and NATS:
 * - the stale-set race, with the gateway in this process so a delay can be put between each
 *   database read and its cache fill;
 * - the invalidator killed and restarted during updates;
 * - a private Redis stopped and started again with its data (append-only file);
 * - a page of `GET /v1/grants` continued by `subscribe` with `since=seq` while writers run.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKeys } from '../../src/cache/keys.js';
import { GrantFromRow } from '../../src/domain/grant.js';
import { connectNats } from '../../src/bus/nats.js';
import { RolePools } from '../../src/db/pools.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startGateway } from '../../src/roles/gateway.js';
import { createProcessServer } from '../../src/roles/process.js';
import { EnvSchema } from '../../src/config/schema.js';
import { connect, inParallel, SECRET, token, type Stack } from '../gateway/harness.js';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase } from '../support/postgres.js';
import { PrivateRedis } from '../support/redis.js';
import { hasCode, startService } from '../support/service.js';
import { testLog } from '../support/log.js';
import { insertGrants, startRestStack } from './harness.js';

const SHARED_REDIS = 'redis://127.0.0.1:6379';
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Every `v` entry under `prefix` compared with its row: the ids whose entry differs. */
async function staleEntries(redis: Redis, prefix: string, sql: (text: string, params?: unknown[]) => Promise<pg.QueryResult>): Promise<{ id: string; cached: number; db: number | null }[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${cacheKeys(prefix).grantPrefix}*`, 'COUNT', 1_000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const stale: { id: string; cached: number; db: number | null }[] = [];
  for (const key of keys) {
    const value = await redis.get(key);
    if (!value?.startsWith('v')) continue;
    const nl = value.indexOf('\n');
    const id = key.slice(cacheKeys(prefix).grantPrefix.length);
    const { rows } = await sql('SELECT row_to_json(g) AS row FROM grants g WHERE id = $1', [id]);
    const db = rows[0] ? JSON.stringify(GrantFromRow.parse(rows[0].row)) : null;
    if (db !== value.slice(nl + 1)) stale.push({ id, cached: Number(value.slice(1, nl)), db: rows[0] ? Number(rows[0].row.version) : null });
  }
  return stale;
}

async function drained(stack: Stack): Promise<number> {
  await expect.poll(async () => (await stack.sql('SELECT count(*)::int AS n FROM grant_changes')).rows[0].n, { timeout: 30_000, interval: 50 }).toBe(0);
  return Number((await stack.sql('SELECT stream_seq FROM relay_state')).rows[0].stream_seq);
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe.each([
  ['Redis alone', 0],
  ['the in-process layer in front of Redis', 10_000],
])('cache - the stale-set race, %s', (_layers, localEntries) => {
  it('50 readers and 10 writers, 10,000 operations, delays between read and fill: nothing older than the bound, no resurrection, cache equals the database', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const migrate = startService({ DATABASE_URL: db.url }, ['migrate']);
    expect((await migrate.exited).code).toBe(0);
    const nats = await PrivateNats.start();
    cleanups.push(() => nats.stop());
    const relay = startService({ DATABASE_URL: db.url, NATS_URL: nats.url, ROLES: 'relay' });
    cleanups.push(() => relay.kill('SIGKILL'));
    await relay.waitFor(hasCode('RelayLeaderAcquired'));

    const prefix = `t${randomUUID().slice(0, 8)}:`;
    const boundMs = 1_000;
    const config = EnvSchema.parse({
      PORT: '0',
      JWT_SECRET: SECRET,
      CACHE_PREFIX: prefix,
      REDIS_URL: SHARED_REDIS,
      CACHE_INVALIDATION_BOUND: `${boundMs}ms`,
      CACHE_LOCAL_ENTRIES: String(localEntries),
      CACHE_TTL: '300s',
      CACHE_TOMBSTONE_TTL: '60s',
      SCRAPER_STALE_AFTER: '1h',
      REST_RATE_LIMIT: '1000000', // 50 readers share one token
    });
    const metrics = createMetrics();
    const nc = await connectNats(nats.url, 'race', testLog);
    cleanups.push(() => nc.close());
    const pools = new RolePools({ url: db.url, sizes: { gateway: 10, ingest: 1 }, statementTimeoutMs: 0, applicationName: 'race' }, testLog);
    cleanups.push(() => pools.end());
    // The invalidator in a process of its own, as deployed; a gateway in that process only
    // serves its /metrics, for the commit-to-invalidation lag.
    const invalidatorPort = await freePort();
    const invalidator = startService({ DATABASE_URL: db.url, NATS_URL: nats.url, ROLES: 'gateway,invalidator', PORT: String(invalidatorPort), JWT_SECRET: SECRET, REDIS_URL: SHARED_REDIS, CACHE_PREFIX: prefix });
    cleanups.push(() => invalidator.kill('SIGKILL'));
    await invalidator.waitFor(hasCode('InvalidatorReset'), 20_000);
    const redis = new Redis(SHARED_REDIS);
    cleanups.push(async () => redis.disconnect());
    const watermark = async () => Number((await redis.get(cacheKeys(prefix).watermark)) ?? -1);
    let delayed = 0;
    const server = await createProcessServer({ config, log: testLog, nc, pools, metrics });
    const gateway = await startGateway(
      server.context,
      {
        // The race window: most fills at once, some after a short pause, a few after a long one.
        beforeFill: async () => {
          const r = Math.random();
          if (r < 0.6) return;
          delayed++;
          await sleep(r < 0.95 ? Math.random() * 50 : 200 + Math.random() * 1_300);
        },
      },
    );
    const port = await server.listen();
    cleanups.push(() => gateway.stop());

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanups.push(() => client.end());
    const { rows } = await client.query(
      `INSERT INTO grants (source, external_id, title) SELECT 'race', 'r-' || i, 'Grant ' || i FROM generate_series(1, 100) i RETURNING id`,
    );
    const ids = rows.map((r: { id: string }) => r.id as string);
    const auth = { authorization: `Bearer ${await token({ ttlSec: 3_600 })}` };

    const commits = new Map<string, { version: number; at: number }[]>();
    const reads: { id: string; started: number; version: number }[] = [];
    const writers = Array.from({ length: 10 }, () => new pg.Client({ connectionString: db.url }));
    await Promise.all(writers.map((w) => w.connect()));
    cleanups.push(() => Promise.all(writers.map((w) => w.end())));
    const pick = () => ids[Math.floor(Math.random() ** 2 * ids.length)]!; // skewed: some hot rows
    let writes = 0;
    let done = false;

    await Promise.all([
      inParallel(2_000, 10, async (i) => {
        const id = pick();
        const w = writers[i % 10]!;
        const r = await w.query('UPDATE grants SET title = $2 WHERE id = $1 RETURNING version', [id, `t${i}`]);
        const at = performance.now();
        const list = commits.get(id) ?? [];
        list.push({ version: Number(r.rows[0].version), at });
        commits.set(id, list);
        writes++;
        if (i % 50 === 0) await sleep(5);
      }).then(() => {
        done = true;
      }),
      inParallel(8_000, 50, async () => {
        const id = pick();
        const started = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/v1/grants/${id}`, { headers: auth });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { version: number };
        reads.push({ id, started, version: body.version });
      }),
    ]);
    expect(done).toBe(true);
    expect(writes).toBe(2_000);

    // No read returned a version older than one committed more than the bound before it began.
    const violations = reads.filter((r) => {
      const older = (commits.get(r.id) ?? []).filter((c) => c.at <= r.started - boundMs);
      const newest = older.reduce((m, c) => Math.max(m, c.version), 1);
      return r.version < newest;
    });
    expect(violations).toEqual([]);

    // Quiescence: relay drained, invalidator caught up; every cached entry equals the database.
    const { rows: seqRows } = await client.query('SELECT stream_seq FROM relay_state');
    await expect.poll(async () => (await client.query('SELECT count(*)::int AS n FROM grant_changes')).rows[0].n, { timeout: 30_000 }).toBe(0);
    const head = Number((await client.query('SELECT stream_seq FROM relay_state')).rows[0].stream_seq);
    expect(head).toBeGreaterThanOrEqual(Number(seqRows[0].stream_seq));
    await expect.poll(watermark, { timeout: 30_000, interval: 50 }).toBe(head);
    expect(await staleEntries(redis, prefix, (t, p) => client.query(t, p))).toEqual([]);
    // And after the bound, every read is current (no late fill resurrected an older version).
    await sleep(boundMs + 100);
    for (const id of ids) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/grants/${id}`, { headers: auth });
      const body = (await res.json()) as { version: number };
      const { rows: current } = await client.query('SELECT version FROM grants WHERE id = $1', [id]);
      expect(body.version, id).toBe(Number(current[0].version));
    }

    const text = await metrics.registry.metrics();
    const fills = { stored: metric(text, 'navimpact_cache_fills_total', 'result="stored"'), stale: metric(text, 'navimpact_cache_fills_total', 'result="stale"') };
    const redisHits = metric(text, 'navimpact_cache_requests_total', 'kind="grant",result="hit"');
    const localHits = metric(text, 'navimpact_cache_requests_total', 'kind="grant",result="local_hit"');
    const hits = redisHits + localHits;
    const monitor = await token({ role: 'monitor' });
    const invalidatorMetrics = await (await fetch(`http://127.0.0.1:${invalidatorPort}/metrics`, { headers: { authorization: `Bearer ${monitor}` } })).text();
    const buckets = [...invalidatorMetrics.matchAll(/^navimpact_cache_invalidation_lag_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)].map((m) => ({ le: m[1], n: Number(m[2]) }));
    const count = buckets[buckets.length - 1]!.n;
    const quantile = (q: number) => buckets.find((b) => b.n >= q * count)?.le;
    process.stdout.write(
      `stale-set race: ${reads.length} reads (${localHits} in-process hits, ${redisHits} Redis hits), ${writes} writes, ${delayed} delayed fills, fills ${JSON.stringify(fills)}; commit-to-invalidation lag p50 <= ${quantile(0.5)} s, p99 <= ${quantile(0.99)} s (${count} events)\n`,
    );
    // The race was exercised: some fills were refused because a newer version was there first.
    expect(fills.stale).toBeGreaterThan(0);
    // And the cache was used: a fill at the version of a tombstone is admitted, so most rows
    // are cached again right after their invalidation.
    expect(hits).toBeGreaterThan(reads.length * 0.3);
  }, 180_000);
});

describe('cache - invalidator killed and restarted', () => {
  it('during 5,000 updates: once it has caught up, no cached entry is stale', async () => {
    const stack = await startRestStack({ ROLES: 'gateway' });
    cleanups.push(() => stack.stop());
    const invalidatorEnv = { DATABASE_URL: stack.db.url, NATS_URL: stack.nats.url, ROLES: 'invalidator', REDIS_URL: SHARED_REDIS, CACHE_PREFIX: stack.prefix };
    let invalidator = startService(invalidatorEnv);
    await invalidator.waitFor(hasCode('InvalidatorReset'), 20_000);
    const ids = await insertGrants(stack, 400);
    const first = ids.slice(0, 200);
    const second = ids.slice(200);
    const readAll = (some: string[]) =>
      inParallel(some.length, 8, async (i) => {
        expect((await stack.get(`/v1/grants/${some[i]}`)).status).toBe(200);
      });
    // Readers keep the first half cached throughout; the second half is cached once, when the
    // invalidator dies, and then only changed: its entries stay stale unless the restarted
    // invalidator applies what happened while it was down.
    let stop = false;
    const readers = inParallel(8, 8, async () => {
      while (!stop) expect((await stack.get(`/v1/grants/${first[Math.floor(Math.random() * first.length)]}`)).status).toBe(200);
    });
    const update = async (id: string, i: number) => void await stack.sql('UPDATE grants SET title = $2 WHERE id = $1', [id, `u${i}`]);
    await inParallel(1_500, 8, (i) => update(ids[i % ids.length]!, i));
    await invalidator.kill('SIGKILL');
    await drained(stack);
    await readAll(ids);
    await inParallel(2_000, 8, (i) => update(second[i % second.length]!, 1_500 + i));
    invalidator = startService(invalidatorEnv);
    await invalidator.waitFor(hasCode('InvalidatorResumed'), 20_000);
    await inParallel(1_500, 8, (i) => update(first[i % first.length]!, 3_500 + i));
    stop = true;
    await readers;
    cleanups.push(() => invalidator.kill('SIGKILL'));
    const head = await drained(stack);
    const redis = new Redis(SHARED_REDIS);
    cleanups.push(async () => redis.disconnect());
    await expect.poll(async () => Number(await redis.get(cacheKeys(stack.prefix).watermark)), { timeout: 30_000, interval: 50 }).toBe(head);
    const cached = (await redis.keys(`${cacheKeys(stack.prefix).grantPrefix}*`)).length;
    expect(cached).toBeGreaterThan(100);
    expect(await staleEntries(redis, stack.prefix, stack.sql)).toEqual([]);
  }, 180_000);
});

describe('cache - Redis stopped and started again', () => {
  it('answers from Postgres with /health degraded, then uses the cache again and never serves what changed meanwhile', async () => {
    const redisServer = await PrivateRedis.start({ persist: true });
    cleanups.push(() => redisServer.stop());
    // The in-process layer off: this is about what Redis holds.
    const stack = await startRestStack({ REDIS_URL: redisServer.url, CACHE_LOCAL_ENTRIES: '0' });
    cleanups.push(() => stack.stop());
    const ids = await insertGrants(stack, 20);
    await stack.gateway.waitFor(hasCode('InvalidatorReset'), 20_000);
    const monitor = await token({ role: 'monitor', ttlSec: 600 });
    const hits = async () => metric((await stack.get('/metrics', { token: monitor })).text, 'navimpact_cache_requests_total', 'kind="grant",result="hit"');
    await drained(stack);
    await expect
      .poll(
        async () => {
          for (const id of ids) await stack.get(`/v1/grants/${id}`);
          return hits();
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBeGreaterThan(0);

    await redisServer.down('SIGKILL');
    await expect.poll(async () => (await stack.get('/health', { token: null })).json.checks.redis.status, { timeout: 10_000, interval: 50 }).toBe('degraded');
    const health = await stack.get('/health', { token: null });
    expect(health.status).toBe(200);
    expect(health.json.status).toBe('degraded');
    await stack.sql(`UPDATE grants SET title = 'during the outage' WHERE id = ANY ($1)`, [ids.slice(0, 10)]);
    const seq = await drained(stack);
    // The gateway has seen those changes (its feed is NATS, which stayed up).
    expect((await stack.get(`/v1/changes?since=${seq - 1}&wait=5`)).json.seq).toBe(seq);
    for (const id of ids.slice(0, 10)) {
      const a = await stack.get(`/v1/grants/${id}`);
      expect(a.status).toBe(200);
      expect(a.json.title).toBe('during the outage');
    }

    // Redis comes back with what it held before the outage (append-only file): entries at
    // version 1 for rows now at version 2. None of them may be served.
    await redisServer.up();
    const before = await hits();
    let served = 0;
    await expect
      .poll(
        async () => {
          for (const id of ids.slice(0, 10)) {
            const a = await stack.get(`/v1/grants/${id}`);
            expect(a.json.title, 'a stale entry was served').toBe('during the outage');
            expect(a.json.version).toBe(2);
            served++;
          }
          return hits();
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBeGreaterThan(before);
    expect(served).toBeGreaterThan(0);
    await expect.poll(async () => (await stack.get('/health', { token: null })).json.checks.redis.status, { timeout: 10_000 }).toBe('ok');
  }, 120_000);
});

describe('cache - a page continued by subscribe since=seq', () => {
  it('page plus events equals the database at the end, while writers run', async () => {
    const stack = await startRestStack();
    cleanups.push(() => stack.stop());
    const ids = await insertGrants(stack, 150);
    let stop = false;
    let n = 0;
    const writers = inParallel(4, 4, async (w) => {
      while (!stop) {
        const i = n++;
        const id = ids[(i * 7 + w) % ids.length]!;
        if (i % 10 === 3) await stack.sql(`DELETE FROM grants WHERE id = $1`, [id]);
        else if (i % 10 === 5) await insertGrants(stack, 1);
        else await stack.sql(`UPDATE grants SET title = $2 WHERE id = $1`, [id, `w${i}`]);
      }
    });
    await sleep(200);
    const page = await stack.get('/v1/grants?limit=500');
    expect(page.status).toBe(200);
    expect(page.json.nextCursor).toBeNull();
    const view = new Map<string, { version: number; grant: unknown }>();
    for (const g of page.json.items as { id: string; version: number }[]) view.set(g.id, { version: g.version, grant: g });
    const deleted = new Map<string, number>();
    const client = await connect(stack.port, { token: await token({ ttlSec: 600 }) });
    cleanups.push(async () => client.close());
    let lastSeq = page.json.seq as number;
    let gaps = 0;
    client.ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; seq: number; op: string; id: string; version: number; grant: unknown };
      if (f.type !== 'grant') return;
      if (f.seq !== lastSeq + 1) gaps++;
      lastSeq = f.seq;
      const held = view.get(f.id)?.version ?? deleted.get(f.id) ?? 0;
      if (f.version <= held) return; // already in the page
      if (f.op === 'delete') {
        view.delete(f.id);
        deleted.set(f.id, f.version);
      } else view.set(f.id, { version: f.version, grant: f.grant });
    });
    client.send({ type: 'subscribe', topic: 'grants', since: page.json.seq });
    await client.next((f) => f.type === 'subscribed');
    await sleep(1_500);
    stop = true;
    await writers;
    const head = await drained(stack);
    await expect.poll(() => lastSeq, { timeout: 20_000, interval: 20 }).toBe(head);
    expect(gaps).toBe(0);
    const { rows } = await stack.sql('SELECT row_to_json(g) AS row FROM grants g ORDER BY id');
    const expected = new Map(rows.map((r: pg.QueryResultRow) => [r.row.id as string, GrantFromRow.parse(r.row)]));
    expect(n).toBeGreaterThan(20);
    expect([...view.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, g] of expected) expect(view.get(id)!.grant, id).toEqual(g);
  }, 120_000);
});
