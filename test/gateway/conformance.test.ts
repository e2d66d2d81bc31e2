/**
 * Conformance of the gateway with CONTRACT section 5 over a raw WebSocket: refused
 * upgrades, every frame, every close code. Real Postgres, NATS, relay and gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { generateKeyPair, exportSPKI, SignJWT, base64url } from 'jose';
import { connect as natsConnect } from 'nats';
import { startService, hasCode } from '../support/service.js';
import type { Child } from '../support/process.js';
import { Client, connect, ORIGIN, refusal, startStack, token, type Stack } from './harness.js';

let stack: Stack;
const extra: Child[] = [];

beforeAll(async () => {
  stack = await startStack({ GATEWAY_MAX_CONNECTIONS_PER_SUB: '3', GATEWAY_MAX_SUBSCRIPTIONS: '4', GATEWAY_MAX_FRAME: '4096', GATEWAY_RATE_LIMIT: '20' });
});

afterAll(async () => {
  await Promise.all(extra.map((c) => c.kill('SIGKILL')));
  await stack.stop();
});

/** Another gateway on the same database and NATS, configured differently. */
async function gatewayWith(env: Record<string, string>): Promise<number> {
  const child = startService({ ...stack.env, PORT: '0', ...env });
  extra.push(child);
  return (JSON.parse(await child.waitFor(hasCode('GatewayListening'))) as { port: number }).port;
}

async function insertGrant(title = 'Live grant'): Promise<string> {
  const { rows } = await stack.sql('INSERT INTO grants (title, min_amount, max_amount) VALUES ($1, 1000, 5000) RETURNING id', [title]);
  return (rows[0] as { id: string }).id;
}

describe('upgrade', () => {
  it('upgrade - a valid token by subprotocol is answered with navimpact.v1 and a welcome', async () => {
    const c = await connect(stack.port, { token: await token({ ttlSec: 120 }) });
    expect(c.ws.protocol).toBe('navimpact.v1');
    const welcome = c.frames[0]!;
    expect(welcome).toMatchObject({ type: 'welcome', heartbeatMs: 25_000 });
    expect(typeof welcome.session).toBe('string');
    expect(Math.abs((welcome.expiresAt as number) - (Date.now() + 120_000))).toBeLessThan(2_000);
    c.close();
  });

  it('upgrade - a valid token in the Authorization header is accepted', async () => {
    const c = await connect(stack.port, { token: await token(), via: 'header', protocols: [] });
    expect(c.frames[0]!.type).toBe('welcome');
    c.close();
  });

  it('upgrade - refused with 401 without a token, with an expired, tampered, alg:none, foreign-secret or too long-lived token', async () => {
    const valid = await token();
    const [h, p, s] = valid.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tamperedPayload = `${h}.${base64url.encode(JSON.stringify({ ...payload, role: 'admin' }))}.${s}`;
    const tamperedSignature = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
    const cases: [string, string | undefined][] = [
      ['missing', undefined],
      ['expired', await token({ ttlSec: -10 })],
      ['signature', tamperedPayload],
      ['signature', tamperedSignature],
      ['algorithm', none],
      ['signature', await token({ secret: 'another-secret-of-enough-length-0123456789' })],
      ['malformed', 'not-a-jwt'],
      // Longer than JWT_MAX_TTL (default 24h), CONTRACT v1.1 section 2.
      ['lifetime', await token({ ttlSec: 25 * 3_600 })],
    ];
    for (const [reason, t] of cases) {
      const r = await refusal(stack.port, { token: t });
      expect(r.status, reason).toBe(401);
      expect(JSON.parse(r.body), reason).toMatchObject({ error: { code: reason } });
    }
  });

  it('upgrade - refused with 403 for an Origin not listed, accepted for the listed one', async () => {
    const t = await token();
    expect((await refusal(stack.port, { token: t, origin: 'https://evil.example.com' })).status).toBe(403);
    const ok = await connect(stack.port, { token: t, origin: ORIGIN });
    ok.close();
  });

  it('upgrade - refused with 429 past the connections allowed per sub', async () => {
    const t = await token({ sub: 'many' });
    const open = await Promise.all([1, 2, 3].map(() => connect(stack.port, { token: t })));
    expect((await refusal(stack.port, { token: t })).status).toBe(429);
    for (const c of open) c.close();
    await Promise.all(open.map((c) => c.closed));
  });

  it('upgrade - wrong iss or aud refused when JWT_ISSUER / JWT_AUDIENCE are set', async () => {
    const port = await gatewayWith({ JWT_ISSUER: 'https://issuer.test', JWT_AUDIENCE: 'navimpact-live' });
    const good = await token({ claims: { iss: 'https://issuer.test', aud: 'navimpact-live' } });
    (await connect(port, { token: good })).close();
    expect(JSON.parse((await refusal(port, { token: await token({ claims: { iss: 'https://other.test', aud: 'navimpact-live' } }) })).body)).toMatchObject({ error: { code: 'issuer' } });
    expect(JSON.parse((await refusal(port, { token: await token({ claims: { iss: 'https://issuer.test', aud: 'someone-else' } }) })).body)).toMatchObject({ error: { code: 'audience' } });
  });

  it('upgrade - with a public key configured, an HS256 token signed with that key text is refused (algorithm pinned)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const port = await gatewayWith({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
    const es = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('alice').setExpirationTime('5m').sign(privateKey);
    (await connect(port, { token: es })).close();
    const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('5m').sign(new TextEncoder().encode(pem));
    const r = await refusal(port, { token: confused });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'algorithm' } });
  });
});

describe('frames', () => {
  let c: Client;
  beforeAll(async () => {
    c = await connect(stack.port, { token: await token({ sub: 'frames' }) });
  });
  afterAll(() => c.close());

  it('frames - ping is answered by pong, with its ref', async () => {
    c.send({ type: 'ping', ref: 'p1' });
    expect(await c.next((f) => f.type === 'pong' && f.ref === 'p1')).toEqual({ type: 'pong', ref: 'p1' });
  });

  it('frames - subscribe answers subscribed with the current seq; unsubscribe answers unsubscribed; twice is an error', async () => {
    const id = await insertGrant();
    c.send({ type: 'subscribe', topic: `grant:${id}`, ref: 's1' });
    const sub = await c.next((f) => f.type === 'subscribed' && f.ref === 's1');
    expect(sub).toMatchObject({ topic: `grant:${id}`, recovered: true });
    expect(typeof sub.seq).toBe('number');
    c.send({ type: 'unsubscribe', topic: `grant:${id}`, ref: 'u1' });
    expect(await c.next((f) => f.type === 'unsubscribed' && f.ref === 'u1')).toEqual({ type: 'unsubscribed', topic: `grant:${id}`, ref: 'u1' });
    c.send({ type: 'unsubscribe', topic: `grant:${id}`, ref: 'u2' });
    expect(await c.next((f) => f.type === 'error' && f.ref === 'u2')).toMatchObject({ code: 'not_subscribed' });
  });

  it('frames - wrong types, unknown types and bad topics get an error frame and the connection stays', async () => {
    for (const [frame, ref] of [
      [{ type: 'subscribe', topic: 'grant:not-a-uuid', ref: 'e1' }, 'e1'],
      [{ type: 'subscribe', topic: 'grants', since: -1, ref: 'e2' }, 'e2'],
      [{ type: 'subscribe', topic: 42, ref: 'e3' }, 'e3'],
      [{ type: 'teleport', ref: 'e4' }, 'e4'],
      [{ type: 'ping', ref: 'e5', extra: true }, 'e5'],
    ] as const) {
      c.send(frame);
      expect(await c.next((f) => f.type === 'error' && f.ref === ref), ref).toMatchObject({ code: 'bad_frame' });
    }
    c.send({ type: 'ping', ref: 'alive' });
    await c.next((f) => f.type === 'pong' && f.ref === 'alive');
  });

  it('frames - the metrics topic is refused to a viewer and streams metrics frames to a monitor', async () => {
    c.send({ type: 'subscribe', topic: 'metrics', ref: 'm1' });
    expect(await c.next((f) => f.type === 'error' && f.ref === 'm1')).toMatchObject({ code: 'forbidden' });
    const monitor = await connect(stack.port, { token: await token({ sub: 'ops', role: 'monitor' }) });
    monitor.send({ type: 'subscribe', topic: 'metrics', ref: 'm2' });
    await monitor.next((f) => f.type === 'subscribed' && f.ref === 'm2');
    const m = await monitor.next((f) => f.type === 'metrics', 5_000);
    expect(m.connections).toBeGreaterThanOrEqual(2);
    monitor.close();
  });

  it('frames - more subscriptions than allowed get too_many_subscriptions', async () => {
    const d = await connect(stack.port, { token: await token({ sub: 'subs' }) });
    for (let i = 0; i < 4; i++) d.send({ type: 'subscribe', topic: `grant:00000000-0000-4000-8000-00000000000${i}`, ref: `s${i}` });
    for (let i = 0; i < 4; i++) await d.next((f) => f.type === 'subscribed' && f.ref === `s${i}`);
    d.send({ type: 'subscribe', topic: 'grants', ref: 'over' });
    expect(await d.next((f) => f.type === 'error' && f.ref === 'over')).toMatchObject({ code: 'too_many_subscriptions' });
    d.close();
  });

  it('frames - auth with a fresh token for the same sub answers auth_ok with the new expiry', async () => {
    const fresh = await token({ sub: 'frames', ttlSec: 900 });
    c.send({ type: 'auth', token: fresh, ref: 'a1' });
    const ok = await c.next((f) => f.type === 'auth_ok' && f.ref === 'a1');
    expect(Math.abs((ok.expiresAt as number) - (Date.now() + 900_000))).toBeLessThan(2_000);
    c.send({ type: 'auth', token: 'garbage', ref: 'a2' });
    expect(await c.next((f) => f.type === 'error' && f.ref === 'a2')).toMatchObject({ code: 'auth_failed' });
  });
});

describe('close codes', () => {
  it('close - auth with a token for another sub closes with 4003', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'bob' }) });
    c.send({ type: 'auth', token: await token({ sub: 'mallory' }) });
    expect((await c.closed).code).toBe(4003);
  });

  it('close - text that is not JSON, and binary frames, close with 4400', async () => {
    const a = await connect(stack.port, { token: await token({ sub: 'm1' }) });
    a.send('{not json');
    expect(await a.closed).toEqual({ code: 4400, reason: 'malformed frame' });
    const b = await connect(stack.port, { token: await token({ sub: 'm2' }) });
    b.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await b.closed).code).toBe(4400);
  });

  it('close - a frame over GATEWAY_MAX_FRAME closes with 1009', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'big' }) });
    c.send({ type: 'ping', ref: 'x'.repeat(5_000) });
    expect((await c.closed).code).toBe(1009);
  });

  it('close - more frames per second than GATEWAY_RATE_LIMIT (bursts of twice) close with 4008', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'chatty' }) });
    for (let i = 0; i < 100; i++) c.send({ type: 'ping' });
    expect(await c.closed).toEqual({ code: 4008, reason: 'rate limited' });
    expect(c.ofType('pong').length).toBeGreaterThanOrEqual(39);
    expect(c.ofType('pong').length).toBeLessThanOrEqual(41);
  });

  it('close - a token that runs out sends expiring, then closes with 4001', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'short', ttlSec: 3 }) });
    const expiring = await c.next((f) => f.type === 'expiring', 5_000);
    expect(expiring.expiresAt).toBe(c.frames[0]!.expiresAt);
    expect(await c.closed).toEqual({ code: 4001, reason: 'token invalid or expired' });
  });

  it('close - auth with fresh tokens keeps a connection open across several expiries', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'refresh', ttlSec: 2 }) });
    for (let i = 0; i < 3; i++) {
      await c.next((f) => f.type === 'expiring' && c.ofType('expiring').length === i + 1, 5_000, `expiring #${i + 1}`);
      c.send({ type: 'auth', token: await token({ sub: 'refresh', ttlSec: 2 }), ref: `r${i}` });
      await c.next((f) => f.type === 'auth_ok' && f.ref === `r${i}`);
    }
    c.send({ type: 'ping', ref: 'still-here' });
    await c.next((f) => f.type === 'pong' && f.ref === 'still-here');
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    c.close();
  }, 20_000);
});

describe('delivery', () => {
  it('delivery - a psql UPDATE reaches subscribers of grants and of grant:<id> with the new values; another grant\'s topic gets nothing', async () => {
    const id = await insertGrant('Before');
    const other = await insertGrant('Other');
    const all = await connect(stack.port, { token: await token({ sub: 'd1' }) });
    const one = await connect(stack.port, { token: await token({ sub: 'd2' }) });
    const elsewhere = await connect(stack.port, { token: await token({ sub: 'd3' }) });
    all.send({ type: 'subscribe', topic: 'grants' });
    one.send({ type: 'subscribe', topic: `grant:${id}` });
    elsewhere.send({ type: 'subscribe', topic: `grant:${other}` });
    for (const c of [all, one, elsewhere]) await c.next((f) => f.type === 'subscribed');
    execFileSync('psql', [stack.db.url, '-qc', `UPDATE grants SET title = 'After', max_amount = 7500.5 WHERE id = '${id}'`]);
    for (const c of [all, one]) {
      // The insert's own event may arrive after the subscribe (the relay publishes it then).
      const f = await c.next((x) => x.type === 'grant' && x.id === id && x.version === 2);
      expect(f).toMatchObject({ op: 'update', version: 2, grant: { id, title: 'After', maxAmount: 7500.5, minAmount: 1000 } });
    }
    // The other grant's subscriber: its first event is its own grant's, so it got nothing before.
    await stack.sql("UPDATE grants SET title = 'Other 2' WHERE id = $1", [other]);
    const first = await elsewhere.next((f) => f.type === 'grant');
    expect(first.id).toBe(other);
    expect(elsewhere.ofType('grant')).toHaveLength(1);
    // A client on both `grants` and the grant's own topic gets each event once.
    all.send({ type: 'subscribe', topic: `grant:${id}`, ref: 'both' });
    await all.next((f) => f.ref === 'both');
    await stack.sql("UPDATE grants SET title = 'Once' WHERE id = $1", [id]);
    await stack.sql("UPDATE grants SET title = 'Other 3' WHERE id = $1", [other]);
    await all.next((f) => f.type === 'grant' && (f.grant as { title: string }).title === 'Other 3');
    expect(all.ofType('grant').filter((f) => (f.grant as { title: string }).title === 'Once')).toHaveLength(1);
    for (const c of [all, one, elsewhere]) c.close();
  });

  it('delivery - grant:<ID> in upper case is the same topic as in lower case', async () => {
    const id = await insertGrant('Case');
    const upper = await connect(stack.port, { token: await token({ sub: 'd4' }) });
    upper.send({ type: 'subscribe', topic: `grant:${id.toUpperCase()}`, ref: 'up' });
    const answer = await upper.next((f) => f.ref === 'up');
    expect(answer).toMatchObject({ type: 'subscribed', topic: `grant:${id}` });
    await stack.sql("UPDATE grants SET title = 'Case 2' WHERE id = $1", [id]);
    // (the insert may arrive first: the relay publishes it after the subscribe)
    expect(await upper.next((f) => f.type === 'grant' && f.version === 2)).toMatchObject({ id, op: 'update' });
    upper.send({ type: 'unsubscribe', topic: `grant:${id.toUpperCase()}`, ref: 'down' });
    expect(await upper.next((f) => f.ref === 'down')).toMatchObject({ type: 'unsubscribed', topic: `grant:${id}` });
    upper.close();
  });

  it('delivery - resume: 1,000 changes while away arrive once and in order, then live ones, nothing twice at the seam', async () => {
    const watcher = await connect(stack.port, { token: await token({ sub: 'watch' }) });
    watcher.send({ type: 'subscribe', topic: 'grants' });
    await watcher.next((f) => f.type === 'subscribed');
    const { rows } = await stack.sql("INSERT INTO grants (title) SELECT 'Resume ' || g FROM generate_series(1, 100) g RETURNING id");
    const ids = rows.map((r) => (r as { id: string }).id);
    await watcher.next(() => watcher.ofType('grant').length >= 100, 20_000, 'the inserts at the watcher');
    const c = await connect(stack.port, { token: await token({ sub: 'resumer' }) });
    c.send({ type: 'subscribe', topic: 'grants' });
    const since = (await c.next((f) => f.type === 'subscribed')).seq as number;
    c.close();
    await c.closed;
    for (let round = 0; round < 10; round++) await stack.sql("UPDATE grants SET description = 'round ' || $2 WHERE id = ANY($1)", [ids, round]);
    await watcher.next(() => watcher.ofType('grant').length >= 1_100, 30_000, '1,000 more events at the watcher');
    const missed = watcher.ofType('grant').slice(100, 1_100);
    const missedLast = missed[999]!;
    const back = await connect(stack.port, { token: await token({ sub: 'resumer' }) });
    back.send({ type: 'subscribe', topic: 'grants', since, ref: 'resume' });
    expect(await back.next((f) => f.ref === 'resume')).toMatchObject({ type: 'subscribed', seq: since, recovered: true });
    await back.next((f) => f.type === 'grant' && f.seq === missedLast.seq, 30_000, 'the replay');
    await stack.sql("UPDATE grants SET description = 'live' WHERE id = $1", [ids[0]]);
    await back.next((f) => f.type === 'grant' && (f.grant as { description: string }).description === 'live', 10_000, 'the live event');
    const seqs = back.ofType('grant').map((f) => f.seq as number);
    expect(seqs).toHaveLength(1_001);
    expect(seqs.slice(0, 1_000)).toEqual(missed.map((f) => f.seq as number));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    expect(seqs[0]).toBe(since + 1);
    watcher.close();
    back.close();
  }, 60_000);

  it('delivery - a since outside the stream\'s window answers recovered:false', async () => {
    await stack.sql("INSERT INTO grants (title) SELECT 'Window ' || g FROM generate_series(1, 20) g");
    const watcher = await connect(stack.port, { token: await token({ sub: 'window' }) });
    watcher.send({ type: 'subscribe', topic: 'grants', since: 0 });
    await watcher.next((f) => f.type === 'grant' && (f.grant as { title: string }).title === 'Window 20', 20_000);
    const nc = await natsConnect({ servers: stack.nats.url });
    await (await nc.jetstreamManager()).streams.purge('GRANTS', { keep: 5 });
    await nc.close();
    const c = await connect(stack.port, { token: await token({ sub: 'window' }) });
    c.send({ type: 'subscribe', topic: 'grants', since: 1, ref: 'old' });
    const answer = await c.next((f) => f.ref === 'old');
    expect(answer).toMatchObject({ type: 'subscribed', recovered: false });
    c.close();
    watcher.close();
  });

  it('close - SIGTERM closes every client with 1001', async () => {
    const c = await connect(stack.port, { token: await token({ sub: 'bye' }) });
    await stack.gateway.kill('SIGTERM');
    expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect((await stack.gateway.exited).code).toBe(0);
  });
});
