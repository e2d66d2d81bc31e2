/**
 * REST routes of CONTRACT section 6 against the real stack: grants by id and lists, the
 * raw JSON shapes, CORS, hostile input, long-poll, the Victorian export, health and metrics.
 */
import { parse } from 'csv-parse/sync';
import { connect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN } from '../gateway/harness.js';
import { insertGrants, startRestStack, token, type RestStack } from './harness.js';

let stack: RestStack;
let ids: string[];

beforeAll(async () => {
  stack = await startRestStack();
  ids = await insertGrants(stack, 30);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('rest - grants by id', () => {
  it('answers the Grant with amounts as numbers, dates as YYYY-MM-DD, an ETag, and 304 for it', async () => {
    const a = await stack.get(`/v1/grants/${ids[0]}`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('application/json');
    expect(a.text).toMatch(/"minAmount":1000\.5,/);
    expect(a.text).toMatch(/"maxAmount":5001,/);
    expect(a.text).toMatch(/"openDate":"2026-01-01","closeDate":"2026-12-31"/);
    expect(a.json.version).toBe(1);
    expect(a.headers.get('etag')).toBe('"1"');
    const again = await stack.get(`/v1/grants/${ids[0]}`, { headers: { 'if-none-match': '"1"' } });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
  });

  it('serves the new version after an UPDATE in psql (within the invalidation bound)', async () => {
    const id = ids[1]!;
    expect((await stack.get(`/v1/grants/${id}`)).json.title).toBe('Grant 2');
    expect((await stack.get(`/v1/grants/${id}`)).json.title).toBe('Grant 2');
    await stack.sql(`UPDATE grants SET title = 'Renamed' WHERE id = $1`, [id]);
    await expect.poll(async () => (await stack.get(`/v1/grants/${id}`)).json.title, { timeout: 3_000, interval: 50 }).toBe('Renamed');
    const etag = (await stack.get(`/v1/grants/${id}`)).headers.get('etag');
    expect(etag).toBe('"2"');
    expect((await stack.get(`/v1/grants/${id}`, { headers: { 'if-none-match': '"1"' } })).status).toBe(200);
  });

  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    const bad = await stack.get('/v1/grants/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_id');
    const unknown = await stack.get('/v1/grants/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('not_found');
  });
});

describe('rest - grant lists', () => {
  it('pages through every grant with the cursor, in id order, with the seq it is consistent with', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; json: { items: { id: string }[]; nextCursor: string | null; seq: number } } = await stack.get(`/v1/grants?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(typeof page.json.seq).toBe('number');
      seen.push(...page.json.items.map((g) => g.id));
      cursor = page.json.nextCursor;
      pages++;
    } while (cursor);
    const { rows } = await stack.sql('SELECT id FROM grants ORDER BY id');
    expect(seen).toEqual(rows.map((r: { id: string }) => r.id));
    expect(pages).toBe(Math.ceil(rows.length / 7));
  });

  it('filters by status, location and q; SQL in q is only text', async () => {
    const closed = await insertGrants(stack, 2, { status: `'closed'`, locations: `ARRAY['NSW']`, vic: 'NULL' });
    const byStatus = await stack.get('/v1/grants?status=closed&limit=100');
    expect(byStatus.json.items.map((g: { id: string }) => g.id).sort()).toEqual([...closed].sort());
    const byLocation = await stack.get('/v1/grants?location=NSW&limit=100');
    expect(byLocation.json.items).toHaveLength(2);
    const byQ = await stack.get(`/v1/grants?q=${encodeURIComponent('grant 17')}`);
    expect(byQ.json.items.map((g: { title: string }) => g.title)).toContain('Grant 17');
    // (q is 2 to 100 characters since CONTRACT v1.1: LIKE's wildcards doubled to reach that.)
    for (const q of [`' OR 1=1 --`, `%%`, `__`, `"; DROP TABLE grants; --`, '\\\\']) {
      const a = await stack.get(`/v1/grants?q=${encodeURIComponent(q)}`);
      expect(a.status, q).toBe(200);
      expect(a.json.items, q).toEqual([]);
    }
    expect((await stack.sql('SELECT count(*)::int AS n FROM grants')).rows[0].n).toBeGreaterThan(30);
  });
});

describe('rest - hostile input', () => {
  it('answers every hostile request with a 4xx and an error code, never a 500', async () => {
    const expired = await token({ ttlSec: -60 });
    const forged = Buffer.from('g1:00000000-0000-4000-8000-000000000000x').toString('base64url');
    const cases: [string, { token?: string | null; headers?: Record<string, string> }, number, string][] = [
      ['/v1/grants/1%27%20OR%201=1', {}, 400, 'invalid_id'],
      ['/v1/grants/00000000-0000-0000-0000-00000000000g', {}, 400, 'invalid_id'],
      ['/v1/grants?limit=0', {}, 400, 'invalid_query'],
      ['/v1/grants?limit=-1', {}, 400, 'invalid_query'],
      ['/v1/grants?limit=100001', {}, 400, 'invalid_query'],
      ['/v1/grants?limit=1e3', {}, 400, 'invalid_query'],
      ['/v1/grants?limit=abc', {}, 400, 'invalid_query'],
      ['/v1/grants?limit=1&limit=2', {}, 400, 'invalid_query'],
      // CONTRACT v1.1 section 6: a filter parameter that is unknown or has a bad value is `bad_filter`.
      ['/v1/grants?status=pending', {}, 400, 'bad_filter'],
      ['/v1/grants?location=Victoria', {}, 400, 'bad_filter'],
      ['/v1/grants?cursor=AAAA', {}, 400, 'invalid_cursor'],
      [`/v1/grants?cursor=${forged}`, {}, 400, 'invalid_cursor'],
      ['/v1/grants?cursor=%00%01', {}, 400, 'invalid_cursor'],
      [`/v1/grants?q=${'x'.repeat(101)}`, {}, 400, 'bad_filter'],
      ['/v1/grants?q=', {}, 400, 'bad_filter'],
      ['/v1/grants?q=x', {}, 400, 'bad_filter'],
      ['/v1/grants?status=open&status=closed', {}, 400, 'bad_filter'],
      ['/v1/grants?minAmount=-5', {}, 400, 'bad_filter'],
      ['/v1/grants?closesAfter=2026-02-30', {}, 400, 'bad_filter'],
      ['/v1/grants?sort=id;DROP', {}, 400, 'bad_filter'],
      [`/v1/grants?q=${'a'.repeat(5_000)}`, {}, 414, 'query_too_long'],
      ['/v1/changes', {}, 400, 'invalid_query'],
      ['/v1/changes?since=-1', {}, 400, 'invalid_query'],
      ['/v1/changes?since=0&wait=31', {}, 400, 'invalid_query'],
      ['/v1/changes?since=0&limit=0', {}, 400, 'invalid_query'],
      ['/v1/grants', { token: null }, 401, 'missing'],
      ['/v1/grants', { token: expired }, 401, 'expired'],
      ['/v1/grants', { token: 'not.a.jwt' }, 401, 'malformed'],
      ['/v1/grants', { token: null, headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, 'malformed'],
      ['/v1/exports/victoria.csv', { token: null }, 401, 'missing'],
      ['/metrics', { token: null }, 401, 'missing'],
      ['/v1/nothing-here', {}, 404, 'not_found'],
    ];
    for (const [path, o, status, code] of cases) {
      const a = await stack.get(path, o).catch((err: Error) => {
        throw new Error(`${path.slice(0, 80)}: ${err.message} ${String((err.cause as Error)?.message)}`);
      });
      expect(a.status, path.slice(0, 80)).toBe(status);
      expect(a.json?.error?.code, path.slice(0, 80)).toBe(code);
      expect(typeof a.json.error.message).toBe('string');
    }
    expect((await stack.get('/metrics', { token: await token({ role: 'viewer' }) })).json.error.code).toBe('forbidden');
  });

  it('answers a 100 KB query string with 414, or (uWS) drops it, and keeps serving', async () => {
    // uWebSockets.js buffers at most 4 KiB of a request head that arrives in more than one
    // read, and closes the connection past that without an answer (docs/rest.md). A 100 KB
    // head that arrives in one read reaches the router and is answered 414.
    const outcomes = { answered: 0, dropped: 0 };
    for (let i = 0; i < 10; i++) {
      try {
        const a = await stack.get(`/v1/grants?q=${'a'.repeat(100_000)}`);
        expect(a.status).toBe(414);
        expect(a.json.error.code).toBe('query_too_long');
        outcomes.answered++;
      } catch (err) {
        expect(String((err as Error & { cause?: Error }).cause?.message)).toMatch(/ECONNRESET|socket|closed/i);
        outcomes.dropped++;
      }
    }
    process.stdout.write(`100 KB query strings: ${JSON.stringify(outcomes)}\n`);
    expect((await stack.get('/v1/grants?limit=1')).status).toBe(200);
  });
});

describe('rest - CORS', () => {
  it('echoes a listed origin exactly with Vary: Origin, and gives an unlisted one nothing', async () => {
    const listed = await stack.get('/v1/grants?limit=1', { headers: { origin: ORIGIN } });
    expect(listed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(listed.headers.get('vary')).toBe('Origin');
    const unlisted = await stack.get('/v1/grants?limit=1', { headers: { origin: 'https://evil.example.com' } });
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
    expect(unlisted.headers.get('vary')).toBe('Origin');
    const errorAnswer = await stack.get('/v1/grants/bad', { headers: { origin: ORIGIN } });
    expect(errorAnswer.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('answers a preflight for a listed origin, and refuses one for an unlisted origin', async () => {
    const pre = await fetch(`http://127.0.0.1:${stack.port}/v1/grants`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pre.headers.get('access-control-allow-methods')).toContain('GET');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    const refused = await fetch(`http://127.0.0.1:${stack.port}/v1/grants`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('rest - changes long-poll', () => {
  it('answers a waiting request as soon as a change commits', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const head = (await stack.get('/v1/changes?since=0&limit=1')).json;
      const since = await currentSeq();
      const pending = stack.get(`/v1/changes?since=${since}&wait=10`);
      await expect.poll(async () => waitingPolls(), { timeout: 5_000, interval: 10 }).toBe(1);
      await stack.sql(`UPDATE grants SET description = $2 WHERE id = $1`, [ids[5], `poll ${i}`]);
      const committed = performance.now();
      const answer = await pending;
      latencies.push(performance.now() - committed);
      expect(head).toBeDefined();
      expect(answer.status).toBe(200);
      expect(answer.json.events).toHaveLength(1);
      expect(answer.json.events[0]).toMatchObject({ op: 'update', id: ids[5], seq: since + 1 });
      expect(answer.json.seq).toBe(since + 1);
    }
    // Commit -> relay -> NATS -> gateway -> answer; far from the 10 s wait.
    process.stdout.write(`long-poll latency after commit (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}\n`);
    // A slow answer is explained by the relay's and the gateway's warnings (a stream reader
    // that ended on a stall logs StreamReaderEnded with its reason).
    const warnings = [...stack.relay.lines, ...stack.gateway.lines].filter((l) => /"level":"(warn|error)"/.test(l));
    expect(Math.max(...latencies), `relay and gateway warnings:\n${warnings.join('\n')}`).toBeLessThan(2_000);
  });

  it('times out cleanly with no events, and an aborted wait leaves nothing behind', async () => {
    const since = await currentSeq();
    const started = performance.now();
    const quiet = await stack.get(`/v1/changes?since=${since}&wait=0.5`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    expect(quiet.json).toEqual({ events: [], seq: since });

    const controller = new AbortController();
    const aborted = stack.get(`/v1/changes?since=${since}&wait=20`, { signal: controller.signal }).catch((err: Error) => err);
    await expect.poll(async () => waitingPolls(), { timeout: 5_000, interval: 10 }).toBe(1);
    controller.abort();
    expect(await aborted).toBeInstanceOf(Error);
    await expect.poll(async () => waitingPolls(), { timeout: 5_000, interval: 20 }).toBe(0);
  });

  it('returns events in order from older positions, bounded by limit', async () => {
    const all = await stack.get('/v1/changes?since=0&limit=500');
    const seqs = all.json.events.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => i + 1));
    const some = await stack.get('/v1/changes?since=3&limit=2');
    expect(some.json.events.map((e: { seq: number }) => e.seq)).toEqual([4, 5]);
    expect(some.json.seq).toBe(5);
  });
});

describe('rest - Victorian export', () => {
  it('exports valid rows as CSV that a parser reads back equal to the data', async () => {
    await stack.sql(`UPDATE grants SET title = $2, agency = 'Dept of "Education", Victoria' WHERE id = $1`, [ids[3], '=HYPERLINK("x")\nline two']);
    const a = await stack.get('/v1/exports/victoria.csv');
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const records = parse(a.text, { columns: true }) as Record<string, string>[];
    const { rows } = await stack.sql(
      `SELECT id::text, external_id, title, agency, status, min_amount::text, max_amount::text, open_date::text, close_date::text, vic_outcome_domain, coalesce(url, '') AS url
         FROM grants WHERE 'VIC' = ANY (locations) OR vic_outcome_domain IS NOT NULL ORDER BY id`,
    );
    expect(records).toHaveLength(rows.length);
    const expected = rows.map((r: Record<string, string>) => ({
      ...r,
      title: r.title!.startsWith('=') ? `'${r.title}` : r.title,
      min_amount: String(Number(r.min_amount)),
      max_amount: String(Number(r.max_amount)),
    }));
    expect(records).toEqual(expected);
    expect(records.find((r) => r.id === ids[3])!.title).toBe(`'=HYPERLINK("x")\nline two`);
  });

  it('answers 422 naming the row with an invalid Victorian value, and exports nothing', async () => {
    await stack.sql(`INSERT INTO vic_outcome_domains (code) VALUES ('sport') ON CONFLICT DO NOTHING`);
    await stack.sql(`UPDATE grants SET vic_outcome_domain = 'sport' WHERE id = $1`, [ids[7]]);
    await stack.sql(`UPDATE grants SET vic_outcome_domain = NULL WHERE id = $1`, [ids[8]]);
    // The API still serves such a row as stored (only the export is strict).
    const odd = await stack.get(`/v1/grants/${ids[7]}`);
    expect(odd.status).toBe(200);
    expect(odd.json.vicOutcomeDomain).toBe('sport');
    expect((await stack.get('/v1/grants?limit=500')).status).toBe(200);
    const manual = await stack.sql(`INSERT INTO grants (id, source, external_id, title) VALUES ('11111111-1111-1111-1111-111111111111', '', '', 'Typed in psql') RETURNING id`);
    const typed = await stack.get(`/v1/grants/${manual.rows[0].id}`);
    expect(typed.status).toBe(200);
    expect(typed.json).toMatchObject({ source: '', externalId: '', title: 'Typed in psql' });
    const a = await stack.get('/v1/exports/victoria.csv');
    expect(a.status).toBe(422);
    expect(a.json.error.code).toBe('export_invalid');
    expect(a.json.error.message).toContain(ids[7]);
    expect(a.json.error.message).toContain(ids[8]);
    const listed = a.json.error.details.rows.map((r: { id: string }) => r.id).sort();
    expect(listed).toEqual([ids[7], ids[8]].sort());
    await stack.sql(`UPDATE grants SET vic_outcome_domain = 'health' WHERE id = ANY ($1)`, [[ids[7], ids[8]]]);
    expect((await stack.get('/v1/exports/victoria.csv')).status).toBe(200);
  });
});

describe('rest - health and metrics', () => {
  it('reports ok with every check, without a token', async () => {
    const a = await stack.get('/health', { token: null });
    expect(a.status).toBe(200);
    expect(a.json.status, JSON.stringify(a.json.checks)).toBe('ok');
    // CONTRACT section 6's checks, and this process's own (its feed, its invalidator).
    expect(Object.keys(a.json.checks).sort()).toEqual(['database', 'feed', 'invalidator', 'nats', 'redis', 'relay', 'scrapers']);
    // v1.1: without a monitor or admin token, each check is only its status.
    for (const check of Object.values(a.json.checks)) expect(Object.keys(check as object)).toEqual(['status']);
  });

  it('shows a scraper as degraded when its last status is not ok, or its last ok is older than SCRAPER_STALE_AFTER', async () => {
    const nc = await connect({ servers: stack.nats.url });
    try {
      const publish = async (source: string, state: string, at: Date) => {
        nc.publish(`scrape.status.${source}`, JSON.stringify({ state, at: at.toISOString() }));
        await nc.flush();
      };
      // Scraper details are for monitor and admin tokens (CONTRACT v1.1 section 6).
      const monitor = await token({ role: 'monitor' });
      const sources = async () => (await stack.get('/health', { token: monitor })).json;
      await publish('fresh', 'ok', new Date());
      await expect.poll(async () => (await sources()).checks.scrapers.sources.fresh?.up, { timeout: 5_000, interval: 20 }).toBe(true);
      expect((await sources()).checks.scrapers.status).toBe('ok');

      await publish('stale', 'ok', new Date(Date.now() - 14 * 3_600_000));
      await expect.poll(async () => (await sources()).checks.scrapers.sources.stale?.up, { timeout: 5_000, interval: 20 }).toBe(false);
      const degraded = await sources();
      expect(degraded.status).toBe('degraded');
      expect(degraded.checks.scrapers.status).toBe('degraded');

      await publish('stale', 'ok', new Date());
      await publish('blocked', 'blocked', new Date());
      await expect.poll(async () => (await sources()).checks.scrapers.sources.blocked?.state, { timeout: 5_000, interval: 20 }).toBe('blocked');
      const now = await sources();
      expect(now.checks.scrapers.sources.stale.up).toBe(true);
      expect(now.checks.scrapers.sources.blocked.up).toBe(false);
      expect(now.checks.scrapers.status).toBe('degraded');
      const metrics = (await stack.get('/metrics', { token: await token({ role: 'monitor' }) })).text;
      expect(metrics).toContain('navimpact_scraper_up{source="blocked"} 0');
      expect(metrics).toContain('navimpact_scraper_up{source="fresh"} 1');
      // A status that is not one is ignored.
      nc.publish('scrape.status.bad', '{"state":"fine"}');
      await nc.flush();
      await publish('blocked', 'ok', new Date());
      await expect.poll(async () => (await sources()).checks.scrapers.status, { timeout: 5_000, interval: 20 }).toBe('ok');
      expect((await sources()).checks.scrapers.sources.bad).toBeUndefined();
    } finally {
      await nc.close();
    }
  });

  it('serves Prometheus text to monitor and admin tokens', async () => {
    const a = await stack.get('/metrics', { token: await token({ role: 'monitor' }) });
    expect(a.status).toBe(200);
    for (const name of ['navimpact_ws_connections', 'navimpact_ws_messages_sent_total', 'navimpact_ws_auth_failures_total', 'navimpact_ws_slow_disconnects_total', 'navimpact_cache_requests_total']) {
      expect(a.text).toContain(name);
    }
    expect((await stack.get('/metrics', { token: await token({ role: 'admin' }) })).status).toBe(200);
  });
});

async function currentSeq(): Promise<number> {
  const { rows } = await stack.sql('SELECT stream_seq FROM relay_state');
  await expect.poll(async () => (await stack.sql('SELECT count(*)::int AS n FROM grant_changes')).rows[0].n, { timeout: 5_000, interval: 20 }).toBe(0);
  const after = (await stack.sql('SELECT stream_seq FROM relay_state')).rows[0].stream_seq;
  return Number(after ?? rows[0].stream_seq);
}

async function waitingPolls(): Promise<number> {
  const a = await stack.get('/metrics', { token: await token({ role: 'monitor' }) });
  const m = /^navimpact_http_long_polls_waiting (\d+)/m.exec(a.text);
  return m ? Number(m[1]) : -1;
}
