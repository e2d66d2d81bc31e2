/**
 * Issue 10 item 7, the REST side, against a real stack (Postgres, a private nats-server,
 * the relay, the gateway with the invalidator, the shared Redis under a prefix of its own):
 * - list pages live within CACHE_LIST_MAX_PAGES however many distinct queries arrive;
 * - `/v1/changes` reads older than the gateway's recent events are replays of stream
 *   GRANTS, and share the feed's bound with WebSocket resumes: 16 at once, 256 waiting,
 *   beyond that 503 `busy` with Retry-After, and the stream never has more consumers.
 */
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKeys } from '../../src/cache/keys.js';
import { insertGrants, startRestStack, token, type RestStack } from './harness.js';

const SHARED_REDIS = 'redis://127.0.0.1:6379';
const MAX_PAGES = 40;

let stack: RestStack;

beforeAll(async () => {
  stack = await startRestStack({ CACHE_LIST_MAX_PAGES: String(MAX_PAGES) });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function listKeys(redis: Redis): Promise<string[]> {
  const keys = cacheKeys(stack.prefix);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${stack.prefix}l:*`, 'COUNT', 1_000);
    found.push(...batch.filter((k) => k !== keys.listIndex));
    cursor = next;
  } while (cursor !== '0');
  return found;
}

describe('rest bounds', () => {
  it('rest bounds - 400 distinct list queries: Redis keeps at most CACHE_LIST_MAX_PAGES pages, and the newest pages are still served from it', async () => {
    await insertGrants(stack, 20);
    await expect.poll(async () => Number((await stack.sql('SELECT count(*) FROM grant_changes')).rows[0].count), { timeout: 20_000 }).toBe(0);
    const redis = new Redis(SHARED_REDIS);
    try {
      // Distinct queries (a random search each), 20 at a time: the flood of an attacker who
      // varies `q` to miss the cache on every request.
      for (let i = 0; i < 400; i += 20) {
        const answers = await Promise.all(Array.from({ length: 20 }, (_, j) => stack.get(`/v1/grants?q=${encodeURIComponent(`grant-${i + j}`)}&limit=5`)));
        for (const a of answers) expect(a.status).toBe(200);
      }
      const keys = await listKeys(redis);
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.length).toBeLessThanOrEqual(MAX_PAGES);
      expect(await redis.zcard(cacheKeys(stack.prefix).listIndex)).toBeLessThanOrEqual(MAX_PAGES);
      // The budget evicts the oldest fills: the last query's page is cached and served.
      const last = `/v1/grants?q=${encodeURIComponent('grant-399')}&limit=5`;
      const hitsBefore = await listHits();
      expect((await stack.get(last)).status).toBe(200);
      expect(await listHits()).toBe(hitsBefore + 1);
    } finally {
      redis.disconnect();
    }
  }, 120_000);

  it('rest bounds - 600 concurrent /v1/changes older than the recent events: at most 16 replays read GRANTS at once, the overflow gets 503 busy with Retry-After, the rest their events', async () => {
    await insertGrants(stack, 30);
    // One event larger than the recent events' character budget: the gateway keeps only it,
    // so every read below is a replay of the stream.
    const [big] = await insertGrants(stack, 1);
    await stack.sql('UPDATE grants SET description = $2 WHERE id = $1', [big, 'x'.repeat(300_000)]);
    await expect.poll(async () => Number((await stack.sql('SELECT count(*) FROM grant_changes')).rows[0].count), { timeout: 20_000 }).toBe(0);
    const head = Number((await stack.sql('SELECT stream_seq FROM relay_state')).rows[0].stream_seq);
    const since = head - 20;

    const nc = await natsConnect({ servers: stack.nats.url });
    const jsm = await nc.jetstreamManager();
    // The gateway's live feed and the invalidator read GRANTS all along.
    const steady = (await jsm.streams.info('GRANTS')).state.consumer_count;
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, (await jsm.streams.info('GRANTS')).state.consumer_count);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    const answers = await Promise.all(Array.from({ length: 600 }, () => stack.get(`/v1/changes?since=${since}&limit=5`)));
    sampling = false;
    await sampler;
    await nc.close();

    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    expect(ok.length + busy.length).toBe(600);
    expect(busy.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThanOrEqual(16 + 256);
    for (const a of busy) {
      expect(a.json).toMatchObject({ error: { code: 'busy' } });
      expect(a.headers.get('retry-after')).toBe('1');
    }
    for (const a of ok) expect(a.json.events.map((e: { seq: number }) => e.seq)).toEqual([since + 1, since + 2, since + 3, since + 4, since + 5]);
    expect(most).toBeGreaterThan(steady);
    expect(most).toBeLessThanOrEqual(steady + 16);
    // Once the flood is over, a reader is served again.
    expect((await stack.get(`/v1/changes?since=${since}&limit=5`)).status).toBe(200);
  }, 120_000);
});

async function listHits(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${stack.port}/metrics`, { headers: { authorization: `Bearer ${await token({ role: 'monitor' })}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith('navimpact_cache_requests_total{') && l.includes('kind="list"') && l.includes('result="hit"'));
  return Number(line?.split(' ').at(-1) ?? 0);
}
