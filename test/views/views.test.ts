/**
 * Filtered live views end to end (issue 12, acceptance 2-4), against real Postgres, NATS,
 * the relay and the gateway in their own processes:
 * - 20 views with random filters, half over WebSocket and half over Server-Sent Events,
 *   each a `LiveClient.view` (REST snapshot, then the filtered topic from its seq), while
 *   2,000 random changes commit from 8 writers; every client is cut once in the middle and
 *   resumes. At the end each view equals `SELECT ... WHERE <its filter>`; no client saw an
 *   insert or update of a grant outside its filter, nor a `leave` of one inside it.
 * - While those events flow, the gateway sends Postgres no statement at all.
 * - A malformed filter gets `bad_filter` naming the parameter, on all three transports.
 */
import type pg from 'pg';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveClient, type GrantFrame, type LiveView } from '../../src/client/index.js';
import { canonicalQuery, matches, parseViewTopic, type GrantFilter } from '../../src/domain/filter.js';
import { GrantFromRow, type Grant } from '../../src/domain/grant.js';
import { createPool } from '../../src/db/pool.js';
import { filterSql } from '../../src/rest/filter-sql.js';
import { testLog } from '../support/log.js';
import { connect } from '../gateway/harness.js';
import { startRestStack, token, type RestStack } from '../rest/harness.js';
import { GRANT_COLUMNS, RandomGrants } from '../support/random-grants.js';

const SEED = Number(process.env.VIEWS_SEED ?? 4242);
const VIEWS = 20;
const WRITERS = 8;
const CHANGES = 2_000;
const SEEDED = 400;

let stack: RestStack;
let writers: pg.Pool;
const gen = new RandomGrants(SEED);

beforeAll(async () => {
  stack = await startRestStack({ ROLES: 'gateway', GATEWAY_MAX_CONNECTIONS_PER_SUB: '1000', GATEWAY_RATE_LIMIT: '1000' });
  writers = createPool({ url: stack.db.url, size: WRITERS, applicationName: 'views-writers' }, testLog);
  const values: unknown[] = [];
  const rows: string[] = [];
  for (let i = 0; i < SEEDED; i++) {
    const v = gen.grantValues(`seed-${i}`);
    rows.push(`(${v.map((_, k) => `$${values.length + k + 1}`).join(', ')})`);
    values.push(...v);
  }
  await writers.query(`INSERT INTO grants (${GRANT_COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`, values);
  await drained();
}, 120_000);

afterAll(async () => {
  await writers?.end();
  await stack?.stop();
});

/** Resolves once the relay has published every change (the change log is empty); fails after a minute. */
async function drained(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await stack.sql('SELECT count(*)::int AS n FROM grant_changes')).rows[0].n > 0) {
    if (Date.now() > deadline) throw new Error('the relay did not drain the change log within a minute');
    await new Promise<void>((resolve) => setTimeout(resolve, 100)); // polling the log: there is no event to await
  }
}

async function grantsNow(): Promise<Grant[]> {
  const { rows } = await writers.query('SELECT * FROM grants');
  return rows.map((r) => GrantFromRow.parse(r));
}

/** `SELECT ... WHERE <filter>` in Postgres, as id -> version. */
async function selected(filter: GrantFilter): Promise<Record<string, number>> {
  const params: unknown[] = [];
  const { rows } = await stack.sql(`SELECT g.id, g.version FROM grants g WHERE ${filterSql(filter, params)}`, params);
  return Object.fromEntries(rows.map((r: { id: string; version: string }) => [r.id, Number(r.version)]));
}

function contents(view: LiveView): Record<string, number> {
  return Object.fromEntries(view.items.map((g) => [g.id, g.version]));
}

async function statements(): Promise<number> {
  const text = (await stack.get('/metrics', { token: await token({ role: 'monitor' }) })).text;
  const line = text.split('\n').find((l) => l.startsWith('navimpact_db_statements_total '));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** One random change: an insert, a delete, or an update of a filter field. */
async function randomChange(n: number): Promise<void> {
  const r = gen.random();
  if (r < 0.15) {
    const v = gen.grantValues(`live-${n}`);
    await writers.query(`INSERT INTO grants (${GRANT_COLUMNS.join(', ')}) VALUES (${v.map((_, k) => `$${k + 1}`).join(', ')})`, v);
  } else if (r < 0.25) {
    await writers.query('DELETE FROM grants WHERE id = (SELECT id FROM grants ORDER BY random() LIMIT 1)');
  } else {
    const { set, values } = gen.change();
    await writers.query(`UPDATE grants SET ${set} WHERE id = (SELECT id FROM grants ORDER BY random() LIMIT 1) AND $1::int IS NOT NULL`, [n, ...values]);
  }
}

describe('views', () => {
  it('views - 20 random views over WebSocket and SSE, 2,000 changes, each client cut once: every view equals its SELECT, nothing outside its filter, no statement per event', async () => {
    const grants = await grantsNow();
    const viewer = await token({ sub: 'views', ttlSec: 3_600 });
    const sessions = Array.from({ length: VIEWS }, (_, i) => {
      const filter = gen.filter(grants);
      const client = new LiveClient({ url: `ws://127.0.0.1:${stack.port}/v1/live`, token: viewer, WebSocket, transport: i < VIEWS / 2 ? 'websocket' : 'sse' });
      const frames: GrantFrame[] = [];
      client.on('grant', (f) => frames.push(f));
      const view = client.view(canonicalQuery(filter));
      return { filter, client, view, frames };
    });
    await Promise.all(sessions.map((s) => s.client.connect()));
    await Promise.all(sessions.map((s) => s.view.ready));
    expect(sessions.slice(VIEWS / 2).every((s) => s.client.transport === 'sse')).toBe(true);
    const before = await statements();
    // The counter counts: the snapshots were statements.
    expect(before).toBeGreaterThan(0);

    let next = 0;
    let cut = false;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < CHANGES) {
          const n = next++;
          if (n === CHANGES / 2 && !cut) {
            cut = true;
            for (const s of sessions) s.client.dropConnection();
          }
          await randomChange(n);
        }
      }),
    );
    await drained();
    for (const s of sessions) {
      const expected = await selected(s.filter);
      await expect.poll(() => contents(s.view), { timeout: 30_000, interval: 100, message: `view ${canonicalQuery(s.filter)} (${s.client.transport})` }).toEqual(expected);
    }
    // Every connection was resumed, not reloaded: no REST, and no statement for any event.
    expect(await statements()).toBe(before);

    for (const s of sessions) {
      const topic = s.view.topic;
      const filter = topic === 'grants' ? {} : parseViewTopic(topic);
      for (const f of s.frames) {
        expect(f.topic ?? 'grants', 'a frame of another topic').toBe(topic);
        if (f.op === 'insert' || f.op === 'update') expect(matches(filter, f.grant!), `${f.op} of a grant outside ${topic}`).toBe(true);
        if (f.op === 'leave') expect(matches(filter, f.grant!), `leave of a grant inside ${topic}`).toBe(false);
      }
    }
    const ops = sessions.flatMap((s) => s.frames.map((f) => f.op));
    // The changes did move grants in and out: every kind of frame was seen.
    for (const op of ['insert', 'update', 'leave', 'delete'] as const) expect(ops, op).toContain(op);
    await Promise.all(sessions.map((s) => s.client.close()));
  }, 240_000);

  it('views - with WebSocket blocked, the SDK falls back to Server-Sent Events by itself and the view stays live', async () => {
    // A network that refuses WebSocket: every attempt fails before it opens.
    class Blocked {
      readyState = 0;
      onopen = null;
      onmessage = null;
      onclose: ((e: { code: number; reason: string }) => void) | null = null;
      onerror: ((e: unknown) => void) | null = null;
      constructor() {
        queueMicrotask(() => {
          this.readyState = 3;
          this.onerror?.({ message: 'blocked by the network' });
          this.onclose?.({ code: 1006, reason: '' });
        });
      }
      send(): void {}
      close(): void {}
    }
    const client = new LiveClient({ url: `ws://127.0.0.1:${stack.port}/v1/live`, token: await token({ sub: 'fallback', ttlSec: 600 }), WebSocket: Blocked, reconnect: { baseMs: 10, maxMs: 50 } });
    const view = client.view('status=open');
    await client.connect();
    await view.ready;
    expect(client.transport).toBe('sse');
    const { rows } = await writers.query("UPDATE grants SET status = 'open', title = 'Fallback ' || id WHERE id = (SELECT id FROM grants ORDER BY id LIMIT 1) RETURNING id, version");
    const { id, version } = rows[0] as { id: string; version: string };
    await expect.poll(() => view.get(id)?.version, { timeout: 15_000 }).toBe(Number(version));
    await client.close();
  });

  it('views - a malformed filter is refused with bad_filter naming the parameter, over WebSocket, SSE and REST', async () => {
    const viewer = await token({ sub: 'bad-filter' });
    const ws = await connect(stack.port, { token: viewer });
    ws.send({ type: 'subscribe', topic: 'grants?status=pending', ref: 'bad' });
    expect(await ws.next((f) => f.ref === 'bad')).toMatchObject({ type: 'error', code: 'bad_filter', message: expect.stringMatching(/^status: /) });
    ws.send({ type: 'subscribe', topic: 'grants?closesAfter=2026-02-30', ref: 'bad-date' });
    expect(await ws.next((f) => f.ref === 'bad-date')).toMatchObject({ type: 'error', code: 'bad_filter', message: expect.stringMatching(/^closesAfter: /) });
    ws.send({ type: 'subscribe', topic: 'grants?colour=red', ref: 'unknown' });
    expect(await ws.next((f) => f.ref === 'unknown')).toMatchObject({ type: 'error', code: 'bad_filter', message: expect.stringMatching(/^colour: /) });
    // The connection stays open and can still subscribe.
    ws.send({ type: 'subscribe', topic: 'grants?status=open', ref: 'good' });
    expect(await ws.next((f) => f.ref === 'good')).toMatchObject({ type: 'subscribed', topic: 'grants?status=open' });
    ws.close();

    const sse = await stack.get(`/v1/live/sse?topic=${encodeURIComponent('grants?minAmount=lots')}`, { token: viewer });
    expect(sse.status).toBe(400);
    expect(sse.json.error).toMatchObject({ code: 'bad_filter', message: expect.stringMatching(/^minAmount: /) });

    const rest = await stack.get('/v1/grants?location=Atlantis', { token: viewer });
    expect(rest.status).toBe(400);
    expect(rest.json.error).toMatchObject({ code: 'bad_filter', message: expect.stringMatching(/^location: /) });
  });
});
