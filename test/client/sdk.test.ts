/**
 * The client SDK (src/client) end to end: against the real gateway, with real Postgres, a
 * private nats-server and the relay, each test on its own database and NATS; plus a few
 * cases against a scripted WebSocket peer, for behaviour the real gateway cannot be made to
 * show on demand (a duplicate at the seam, a frame that fails the schema, a silent server).
 *
 * Waits are on events (SDK events, log lines, process exits), never on fixed sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { connect as natsConnect } from 'nats';
import pg from 'pg';
import { WebSocket, WebSocketServer, type WebSocket as WsSocket } from 'ws';
import {
  backoffDelay,
  LiveClient,
  type ConnectionState,
  type GrantFrame,
  type LiveClientOptions,
  type LiveError,
  type ReloadEvent,
  type SocketConstructor,
  type SubscribedFrameData,
  type WelcomeFrameData,
} from '../../src/client/index.js';
import type { Grant } from '../../src/domain/grant.js';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { hasCode, startService } from '../support/service.js';
import type { Child } from '../support/process.js';

// The `ws` class fits the SDK's socket type (checked by the compiler here).
const WS: SocketConstructor = WebSocket;

const SECRET = 'sdk-test-secret-0123456789-abcdefghijkl';

function token(ttlSec = 300, sub = 'sdk-user'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
    .sign(new TextEncoder().encode(SECRET));
}

// ---- what a test observes of a client ---------------------------------------------------

/** Every event of one client, and a way to await a condition over them. */
class Recorder {
  readonly grants: GrantFrame[] = [];
  readonly states: ConnectionState[] = [];
  readonly errors: LiveError[] = [];
  readonly welcomes: WelcomeFrameData[] = [];
  readonly subscribed: SubscribedFrameData[] = [];
  readonly authenticated: number[] = [];
  readonly expiring: number[] = [];
  readonly reloads: ReloadEvent[] = [];
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(readonly client: LiveClient) {
    const record =
      <T>(list: T[]) =>
      (value: T) => {
        list.push(value);
        this.changed();
      };
    client.on('grant', record(this.grants));
    client.on('state', record(this.states));
    client.on('error', record(this.errors));
    client.on('welcome', record(this.welcomes));
    client.on('subscribed', record(this.subscribed));
    client.on('authenticated', (a) => record(this.authenticated)(a.expiresAt));
    client.on('expiring', (e) => record(this.expiring)(e.expiresAt));
    client.on('reload', record(this.reloads));
  }

  /** Resolves when `test` holds (now or after a later event); fails after `timeoutMs` with what was seen. */
  until(test: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.summary()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Also re-checks waiters when the test itself changed something they look at. */
  changed(): void {
    for (const w of [...this.waiters]) {
      if (w.test()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  summary(): string {
    return JSON.stringify({
      state: this.client.state,
      states: this.states,
      grants: this.grants.length,
      lastSeqs: this.grants.slice(-5).map((g) => g.seq),
      errors: this.errors.map((e) => `${e.code}: ${e.message}`),
      welcomes: this.welcomes.length,
      subscribed: this.subscribed,
    });
  }
}

const clients: LiveClient[] = [];
const servers: ScriptedServer[] = [];

function client(options: Partial<LiveClientOptions> & { url: string }): { client: LiveClient; rec: Recorder } {
  const c = new LiveClient({ WebSocket: WS, reconnect: { baseMs: 50, maxMs: 500 }, ...options });
  clients.push(c);
  return { client: c, rec: new Recorder(c) };
}

// One cleanup, in order: clients first (so they do not watch their servers die), then servers.
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await started?.stop();
  started = undefined;
});

// ---- the real stack ---------------------------------------------------------------------

interface Commit {
  id: string;
  version: number;
}

/** A database, a private nats-server, the relay and the gateway, each in its own process. */
class Stack {
  gateway: Child | undefined;
  port = 0;
  private constructor(
    readonly db: TestDatabase,
    readonly nats: PrivateNats,
    readonly relay: Child,
    readonly sql: pg.Client,
    private readonly gatewayEnv: Record<string, string>,
  ) {}

  static async start(gatewayEnv: Record<string, string> = {}): Promise<Stack> {
    const db = await createTestDatabase();
    const migrate = startService({ DATABASE_URL: db.url }, ['migrate']);
    const [nats, migrated] = await Promise.all([PrivateNats.start(), migrate.exited]);
    if (migrated.code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
    // Relay and gateway start side by side: they meet only through NATS.
    const relay = startService({ DATABASE_URL: db.url, NATS_URL: nats.url, ROLES: 'relay', RELAY_LEADER_POLL: '250ms' });
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const stack = new Stack(db, nats, relay, sql, {
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      ROLES: 'gateway',
      JWT_SECRET: SECRET,
      CORS_ORIGINS: 'https://app.example.org',
      CACHE_PREFIX: `t${randomUUID().slice(0, 8)}:`,
      ...gatewayEnv,
    });
    // A fixed port rather than PORT=0: uWebSockets.js sets SO_REUSEADDR only on a non-zero
    // port, and without it the gateway's TIME_WAIT connections would keep the next gateway
    // from listening on the same port after a restart.
    stack.port = await freePort();
    await Promise.all([relay.waitFor(hasCode('RelayLeaderAcquired'), 60_000, 'relay leader'), stack.startGateway()]);
    return stack;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/live`;
  }

  /** Starts a gateway on the stack's port (the same one after a restart). */
  async startGateway(): Promise<void> {
    this.gateway = startService({ ...this.gatewayEnv, PORT: String(this.port) });
    const line = await this.gateway.waitFor(hasCode('GatewayListening'), 60_000, 'gateway listening');
    this.port = (JSON.parse(line) as { port: number }).port;
  }

  /** SIGTERM: the gateway closes every client with 1001 and exits. */
  async stopGateway(): Promise<void> {
    const gateway = this.gateway;
    this.gateway = undefined;
    await gateway?.kill('SIGTERM');
  }

  async insert(title: string): Promise<Commit> {
    const { rows } = await this.sql.query<{ id: string; version: string }>(
      'INSERT INTO grants (title, description, min_amount, max_amount, locations) VALUES ($1, $2, 1000, 5000.5, $3) RETURNING id, version',
      [title, `Description of ${title}`, ['VIC']],
    );
    return { id: rows[0]!.id, version: Number(rows[0]!.version) };
  }

  /** `n` UPDATEs, one transaction each, round-robin over `ids`; returns them in commit order. */
  async updates(ids: readonly string[], n: number, label: string): Promise<Commit[]> {
    const commits: Commit[] = [];
    for (let i = 0; i < n; i++) {
      const { rows } = await this.sql.query<{ id: string; version: string }>('UPDATE grants SET title = $2 WHERE id = $1 RETURNING id, version', [ids[i % ids.length], `${label} ${i}`]);
      commits.push({ id: rows[0]!.id, version: Number(rows[0]!.version) });
    }
    return commits;
  }

  async stop(): Promise<void> {
    await this.gateway?.kill('SIGKILL');
    await this.relay.kill('SIGKILL');
    await this.sql.end();
    await this.nats.stop();
    await this.db.drop();
  }
}

/** The consumer saw exactly these commits, each once, in commit order, with consecutive seqs. */
function expectExactly(frames: readonly GrantFrame[], commits: readonly Commit[]): void {
  expect(frames.map((f) => `${f.id}@${f.version}`)).toEqual(commits.map((c) => `${c.id}@${c.version}`));
  frames.forEach((f, i) => {
    if (i > 0) expect(f.seq, `seq after ${frames[i - 1]!.seq}`).toBe(frames[i - 1]!.seq + 1);
  });
}

/** The current test's stack; `started` is what the cleanup stops (none for scripted tests). */
let stack: Stack;
let started: Stack | undefined;

async function subscribedClient(options: Partial<LiveClientOptions> = {}): Promise<{ client: LiveClient; rec: Recorder }> {
  const c = client({ url: stack.url, token: await token(), ...options });
  c.client.subscribe('grants');
  await c.client.connect();
  await c.rec.until(() => c.rec.subscribed.some((f) => f.topic === 'grants'), 'subscribed grants');
  return c;
}

// Each test gets its own database, nats-server, relay and gateway. Starting three Node
// processes (tsx) takes 5 s on an idle two-core machine and several times that on a busy
// one (seen: 25 s at load 13): hence the hook's wide deadline.
describe('sdk - against the gateway', () => {
  beforeEach(async () => {
    stack = started = await Stack.start();
  }, 120_000);

  it('sdk - connects with subprotocols and reports welcome, open and the token expiry', async () => {
    const t = await token(120);
    const { client: c, rec } = client({ url: stack.url, token: t });
    expect(c.state).toBe('closed');
    await c.connect();
    expect(rec.states).toEqual(['connecting', 'open']);
    expect(rec.welcomes).toHaveLength(1);
    const welcome = rec.welcomes[0]!;
    expect(c.session).toBe(welcome.session);
    expect(welcome.heartbeatMs).toBeGreaterThan(0);
    const { exp } = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(welcome.expiresAt).toBe(exp * 1000);
    expect(rec.authenticated).toEqual([exp * 1000]);
    expect(rec.errors).toEqual([]);
  });

  it('sdk - an UPDATE made with pg reaches a client subscribed to grants, with the new values', async () => {
    const { rec } = await subscribedClient();
    const inserted = await stack.insert('Before');
    await rec.until(() => rec.grants.length === 1, 'the insert');
    await stack.sql.query("UPDATE grants SET title = 'After', max_amount = 7500.25, locations = '{VIC,NSW}' WHERE id = $1", [inserted.id]);
    await rec.until(() => rec.grants.length === 2, 'the update');
    const [insert, update] = rec.grants as [GrantFrame, GrantFrame];
    expect(insert).toMatchObject({ type: 'grant', op: 'insert', id: inserted.id, version: 1 });
    expect(update).toMatchObject({ type: 'grant', op: 'update', id: inserted.id, version: 2 });
    expect(update.seq).toBe(insert.seq + 1);
    const grant = update.grant as Grant;
    expect(grant).toMatchObject({ title: 'After', maxAmount: 7500.25, minAmount: 1000, locations: ['VIC', 'NSW'], version: 2, description: 'Description of Before' });
  });

  it('sdk - a dropped connection resumes with since: every change once and in order', async () => {
    const { client: c, rec } = await subscribedClient();
    const seeded = [await stack.insert('a'), await stack.insert('b'), await stack.insert('c')];
    const ids = seeded.map((s) => s.id);
    const before = await stack.updates(ids, 10, 'before');
    await rec.until(() => rec.grants.length === 13, '13 changes before the drop');
    const seqBeforeDrop = c.lastSeq('grants');
    c.dropConnection();
    expect(c.state).toBe('reconnecting');
    // Commits race the reconnect: some land while the client is away, some after.
    const during = await stack.updates(ids, 40, 'during');
    await rec.until(() => rec.grants.length === 53, 'all 53 changes');
    expectExactly(rec.grants, [...seeded, ...before, ...during]);
    expect(rec.welcomes).toHaveLength(2);
    expect(rec.welcomes[1]!.session).not.toBe(rec.welcomes[0]!.session);
    // The second subscribe resumed from where the consumer was.
    expect(rec.subscribed[1]).toMatchObject({ topic: 'grants', recovered: true, seq: seqBeforeDrop });
    expect(rec.errors).toEqual([]);
  });

  it('sdk - a gateway restart (1001): changes committed while it is down arrive once and in order', async () => {
    const { rec } = await subscribedClient();
    const seeded = [await stack.insert('a'), await stack.insert('b')];
    const ids = seeded.map((s) => s.id);
    await rec.until(() => rec.grants.length === 2, 'the inserts');
    await stack.stopGateway();
    await rec.until(() => rec.client.state === 'reconnecting', 'reconnecting after 1001');
    const whileDown = await stack.updates(ids, 25, 'down');
    await stack.startGateway();
    const after = await stack.updates(ids, 5, 'after');
    await rec.until(() => rec.grants.length === 32, 'all 32 changes');
    expectExactly(rec.grants, [...seeded, ...whileDown, ...after]);
    expect(rec.welcomes).toHaveLength(2);
    expect(rec.errors).toEqual([]);
  }, 120_000); // a gateway (re)start is a Node process start: seconds, tens on a loaded machine

  // Wide deadline: two nats-server restarts and a gateway restart, and the gateway's and
  // the relay's NATS clients reconnect on their own schedules.
  it('sdk - rides through a gateway restart and a NATS restart with no event lost (acceptance 8)', async () => {
    const s = stack;
    const { client: c, rec } = await subscribedClient();
    const seeded = [await s.insert('a'), await s.insert('b'), await s.insert('c')];
    const ids = seeded.map((x) => x.id);
    const expected: Commit[] = [...seeded, ...(await s.updates(ids, 5, 'live'))];
    await rec.until(() => rec.grants.length === expected.length, 'the first changes');

    // 1. Gateway restart, changes committed while it is down.
    await s.stopGateway();
    await rec.until(() => c.state === 'reconnecting', 'reconnecting after the gateway stopped');
    expected.push(...(await s.updates(ids, 10, 'gateway down')));
    await s.startGateway();
    await rec.until(() => c.state === 'open' && rec.grants.length === expected.length, 'changes after the gateway restart', 40_000);

    // 2. NATS restart, changes committed while it is down; the client stays on the gateway.
    await s.nats.down();
    expected.push(...(await s.updates(ids, 10, 'nats down')));
    await s.nats.up();
    expected.push(...(await s.updates(ids, 5, 'nats back')));
    await rec.until(() => rec.grants.length >= expected.length, 'changes after the NATS restart', 60_000);

    // 3. Both at once: the gateway stops, NATS restarts, changes commit, then the gateway returns.
    await s.stopGateway();
    await s.nats.restart();
    expected.push(...(await s.updates(ids, 10, 'both down')));
    await s.startGateway();
    expected.push(...(await s.updates(ids, 5, 'all back')));
    await rec.until(() => rec.grants.length >= expected.length, 'changes after both restarts', 60_000);

    expectExactly(rec.grants, expected);
    expect(rec.errors).toEqual([]);
    expect(rec.welcomes.length).toBeGreaterThanOrEqual(3);
  }, 240_000);

  it('sdk - in-band token refresh keeps one connection across several short expiries', async () => {
    let issued = 0;
    const { client: c, rec } = client({
      url: stack.url,
      getToken: () => {
        issued++;
        return token(3);
      },
    });
    c.subscribe('grants');
    await c.connect();
    const firstExpiry = rec.welcomes[0]!.expiresAt;
    // Each token lives 2-3 s (exp has whole seconds); wait until the connection holds a
    // token that expires more than two lifetimes after the first one.
    await rec.until(() => (rec.authenticated.at(-1) ?? 0) >= firstExpiry + 5_000, 'three refreshes', 25_000);
    expect(Date.now()).toBeGreaterThan(firstExpiry); // the first token is long gone, the connection is not
    expect(issued).toBeGreaterThanOrEqual(3);
    expect(rec.authenticated.length).toBeGreaterThanOrEqual(3);
    expect(rec.welcomes).toHaveLength(1);
    expect(rec.states).toEqual(['connecting', 'open']);
    expect(c.session).toBe(rec.welcomes[0]!.session);
    expect(rec.errors).toEqual([]);
    // Still live: a change arrives on the same connection.
    await stack.insert('after refreshes');
    await rec.until(() => rec.grants.length === 1, 'a change after the refreshes');
  }, 40_000);

  it('sdk - a token that expires without getToken: expiring, then close 4001, an error and state closed', async () => {
    const { client: c, rec } = client({ url: stack.url, token: await token(3) });
    await c.connect();
    await rec.until(() => c.state === 'closed', 'closed', 10_000);
    expect(rec.expiring).toHaveLength(1);
    expect(rec.errors.map((e) => [e.code, e.closeCode])).toEqual([['token_expired', 4001]]);
    expect(rec.states).toEqual(['connecting', 'open', 'closed']);
    expect(c.pendingTimers).toBe(0);
  });

  it('sdk - in-band auth with a token of another sub: close 4003 stops the client', async () => {
    let calls = 0;
    const { client: c, rec } = client({
      url: stack.url,
      // Long enough that connect() uses it (a token with under 5 s left is replaced first).
      token: await token(7, 'alice'),
      getToken: () => {
        calls++;
        return token(300, 'mallory');
      },
    });
    await c.connect();
    await rec.until(() => c.state === 'closed', 'closed', 15_000);
    expect(calls).toBe(1);
    expect(rec.errors.map((e) => [e.code, e.closeCode])).toEqual([['forbidden', 4003]]);
    expect(rec.welcomes).toHaveLength(1);
    expect(c.pendingTimers).toBe(0);
  });

  it('sdk - a position the stream never had (bad_since) reloads with restBaseUrl: a snapshot from the real REST routes, then live events', async () => {
    // The gateway's feed must hold the seeded rows first, or they would come live as well.
    const watcher = await subscribedClient();
    const seeded = [await stack.insert('a'), await stack.insert('b'), await stack.insert('c')];
    await watcher.rec.until(() => watcher.rec.grants.length === 3, 'the gateway has the seeded rows');
    const c = client({ url: stack.url, token: await token(), restBaseUrl: `http://127.0.0.1:${stack.port}` });
    // Beyond the head: the gateway refuses it (bad_since, issue 10 item 2); the SDK starts the
    // topic afresh and reloads, exactly as after recovered:false.
    c.client.subscribe('grants', { since: 1_000_000 });
    await c.client.connect();
    await c.rec.until(() => c.rec.reloads.length === 1, 'the reload with its snapshot');
    const snapshot = c.rec.reloads[0]!.snapshot!;
    expect(snapshot).not.toBeNull();
    expect(snapshot.items.map((g) => g.id).sort()).toEqual(seeded.map((s) => s.id).sort());
    expect(snapshot.items.every((g) => g.version === 1 && typeof g.maxAmount === 'number')).toBe(true);
    expect(typeof snapshot.seq).toBe('number');
    const live = await stack.updates([seeded[1]!.id], 1, 'after the reload');
    await c.rec.until(() => c.rec.grants.length === 1, 'the live change');
    expectExactly(c.rec.grants, live);
    // Reported once, so that an app can tell; nothing for the app to do.
    expect(c.rec.errors.map((e) => [e.code, e.topic])).toEqual([['bad_since', 'grants']]);
  });

  it('sdk - recovered:false calls onReload, then continues live from the subscribed seq', async () => {
    const watcher = await subscribedClient();
    const seeded = [await stack.insert('a'), await stack.insert('b'), await stack.insert('c')];
    await watcher.rec.until(() => watcher.rec.grants.length === 3, 'the watcher to see the inserts');
    // The events leave the resume window: the stream no longer holds them.
    const nc = await natsConnect({ servers: stack.nats.url });
    await (await nc.jetstreamManager()).streams.purge('GRANTS');
    await nc.close();

    const reloaded: string[] = [];
    let finishReload!: () => void;
    const reloadDone = new Promise<void>((resolve) => (finishReload = resolve));
    const withHook: { client: LiveClient; rec: Recorder } = client({
      url: stack.url,
      token: await token(),
      onReload: async (topic) => {
        reloaded.push(topic);
        withHook.rec.changed();
        await reloadDone;
      },
    });
    // A position from an earlier session, now outside the window.
    withHook.client.subscribe('grants', { since: 0 });
    const withoutHook = client({ url: stack.url, token: await token() });
    withoutHook.client.subscribe('grants', { since: 0 });
    await Promise.all([withHook.client.connect(), withoutHook.client.connect()]);

    await withHook.rec.until(() => reloaded.length === 1, 'onReload');
    expect(reloaded).toEqual(['grants']);
    const lastSeeded = watcher.rec.grants.at(-1)!.seq;
    expect(withHook.rec.subscribed).toEqual([expect.objectContaining({ topic: 'grants', recovered: false, seq: lastSeeded })]);
    // Without onReload or restBaseUrl, the app is told to reload itself.
    await withoutHook.rec.until(() => withoutHook.rec.reloads.length === 1, 'the reload event');
    expect(withoutHook.rec.reloads[0]).toMatchObject({ topic: 'grants', snapshot: null });

    // A change during the reload is held until onReload finishes, then delivered live.
    const live = await stack.updates([seeded[0]!.id], 1, 'live');
    await watcher.rec.until(() => watcher.rec.grants.length === 4, 'the watcher to see the change');
    await withoutHook.rec.until(() => withoutHook.rec.grants.length === 1, 'the change without a hook');
    expect(withHook.rec.grants).toEqual([]);
    finishReload();
    await withHook.rec.until(() => withHook.rec.grants.length === 1, 'the held change');
    expectExactly(withHook.rec.grants, live);
    expect(withHook.rec.grants[0]!.seq).toBe(lastSeeded + 1);
    expect(withHook.rec.errors).toEqual([]);
  });
});

// ---- a scripted peer ----------------------------------------------------------------------

interface Peer {
  ws: WsSocket;
  req: IncomingMessage;
  frames: Record<string, unknown>[];
  n: number;
}

/** A WebSocket server that speaks navimpact.v1 as each test scripts it. */
class ScriptedServer {
  readonly peers: Peer[] = [];
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  private constructor(readonly wss: WebSocketServer) {}

  static async start(script: (peer: Peer, frame?: Record<string, unknown>) => void): Promise<ScriptedServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('navimpact.v1') ? 'navimpact.v1' : false) });
    await once(wss, 'listening');
    const server = new ScriptedServer(wss);
    wss.on('connection', (ws, req) => {
      const peer: Peer = { ws, req, frames: [], n: server.peers.length };
      server.peers.push(peer);
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Record<string, unknown>;
        peer.frames.push(frame);
        script(peer, frame);
        server.changed();
      });
      script(peer);
      server.changed();
    });
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as { port: number }).port}/v1/live`;
  }

  until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) {
      if (w.test()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}


async function scripted(script: (peer: Peer, frame?: Record<string, unknown>) => void): Promise<ScriptedServer> {
  const server = await ScriptedServer.start(script);
  servers.push(server);
  return server;
}

const send = (peer: Peer, frame: unknown) => peer.ws.send(JSON.stringify(frame));
const welcome = (peer: Peer, heartbeatMs = 30_000) =>
  send(peer, { type: 'welcome', session: `s${peer.n}`, heartbeatMs, expiresAt: Date.now() + 3_600_000 });

function grantFrame(seq: number, id: string, version: number): GrantFrame {
  const grant: Grant = {
    id,
    source: 'test',
    externalId: `x-${version}`,
    title: `Grant ${version}`,
    description: null,
    agency: null,
    url: null,
    minAmount: null,
    maxAmount: 100,
    currency: 'AUD',
    openDate: '2026-01-01',
    closeDate: null,
    status: 'open',
    categories: [],
    locations: ['national'],
    vicOutcomeDomain: null,
    version,
    updatedAt: new Date().toISOString(),
  };
  return { type: 'grant', seq, op: 'update', id, version, grant, committedAt: new Date().toISOString() };
}

describe('sdk - client behaviour against a scripted peer', () => {
  it('sdk - de-duplicates by seq: a frame on two topics and a repeat at the seam reach the consumer once, in order', async () => {
    const x = randomUUID();
    const y = randomUUID();
    const server = await scripted((peer, frame) => {
      if (!frame) return welcome(peer);
      if (frame.type !== 'subscribe') return;
      send(peer, { type: 'subscribed', topic: frame.topic, seq: 10, recovered: true, ref: frame.ref });
      if (frame.topic !== 'grants') return;
      // As a replay on one topic and live delivery on the other could meet:
      for (const f of [grantFrame(11, x, 2), grantFrame(11, x, 2), grantFrame(12, y, 2), grantFrame(10, x, 1), grantFrame(11, x, 2), grantFrame(13, x, 3)]) send(peer, f);
    });
    const { client: c, rec } = client({ url: server.url, token: await token() });
    c.subscribe(`grant:${x.toUpperCase()}`);
    c.subscribe('grants');
    expect(c.topics).toEqual([`grant:${x}`, 'grants']);
    await c.connect();
    await rec.until(() => rec.grants.length === 3, 'three grants');
    await server.until(() => server.peers[0]!.frames.length === 2, 'two subscribes');
    expect(rec.grants.map((g) => g.seq)).toEqual([11, 12, 13]);
    expect(c.lastSeq('grants')).toBe(13);
    expect(c.lastSeq(`grant:${x}`)).toBe(13);
    expect(rec.errors).toEqual([]);
  });

  it('sdk - a server frame that fails the schema is an error event, never a throw, and the connection goes on', async () => {
    const id = randomUUID();
    const server = await scripted((peer, frame) => {
      if (!frame) return welcome(peer);
      if (frame.type !== 'subscribe') return;
      send(peer, { type: 'subscribed', topic: 'grants', seq: 0, recovered: true, ref: frame.ref });
      peer.ws.send('not json');
      send(peer, { type: 'grant', seq: 'one', id });
      send(peer, { type: 'grant', seq: 1, op: 'delete', id, version: 2, grant: grantFrame(1, id, 2).grant, committedAt: new Date().toISOString() });
      send(peer, { type: 'teapot' });
      send(peer, grantFrame(1, id, 2));
    });
    const { client: c, rec } = client({ url: server.url, token: await token() });
    c.subscribe('grants');
    await c.connect();
    await rec.until(() => rec.grants.length === 1, 'the valid grant');
    expect(rec.errors.map((e) => e.code)).toEqual(['bad_server_frame', 'bad_server_frame', 'bad_server_frame', 'bad_server_frame']);
    expect(c.state).toBe('open');
    expect(rec.welcomes).toHaveLength(1);
  });

  it('sdk - heartbeat: pings every heartbeatMs, drops a server silent for two heartbeats, reconnects and resumes with since', async () => {
    const id = randomUUID();
    const server = await scripted((peer, frame) => {
      if (!frame) return welcome(peer, 200);
      if (frame.type === 'subscribe') {
        send(peer, { type: 'subscribed', topic: 'grants', seq: frame.since ?? 4, recovered: true, ref: frame.ref });
        if (peer.n === 0) send(peer, grantFrame(5, id, 2));
      }
      // The second connection answers pings; the first goes silent.
      if (frame.type === 'ping' && peer.n > 0) send(peer, { type: 'pong' });
    });
    const { client: c, rec } = client({ url: server.url, token: await token() });
    c.subscribe('grants');
    await c.connect();
    await rec.until(() => rec.welcomes.length === 2, 'a reconnect after the silence', 5_000);
    const first = server.peers[0]!;
    expect(first.frames.filter((f) => f.type === 'ping').length).toBeGreaterThanOrEqual(1);
    await server.until(() => server.peers[1]?.frames.some((f) => f.type === 'subscribe') ?? false, 'the resubscribe');
    expect(server.peers[1]!.frames.find((f) => f.type === 'subscribe')).toMatchObject({ topic: 'grants', since: 5 });
    expect(rec.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    // The second connection is answered: it stays up across several heartbeats.
    await server.until(() => (server.peers[1]?.frames.filter((f) => f.type === 'ping').length ?? 0) >= 4, 'four pings on the live connection', 5_000);
    expect(rec.welcomes).toHaveLength(2);
  });

  it('sdk - token refresh: a far-off expiry or a clock ahead of the server never starts a refresh loop; expiring still refreshes', async () => {
    // Client clock "ahead": the server's expiresAt is already past by ours.
    const skewed = () => Date.now() - 5_000;
    const farOff = Date.now() + 30 * 86_400_000; // beyond setTimeout's 24.8-day range
    const server = await scripted((peer, frame) => {
      if (!frame) return send(peer, { type: 'welcome', session: `s${peer.n}`, heartbeatMs: 100, expiresAt: peer.n === 0 ? farOff : skewed() });
      if (frame.type === 'ping') send(peer, { type: 'pong' });
      if (frame.type === 'auth') send(peer, { type: 'auth_ok', expiresAt: skewed(), ref: frame.ref });
    });
    let calls = 0;
    const getToken = () => {
      calls++;
      return token(600);
    };
    const pings = (n: number, atLeast: number) => () => (server.peers[n]?.frames.filter((f) => f.type === 'ping').length ?? 0) >= atLeast;
    const auths = (n: number) => server.peers[n]!.frames.filter((f) => f.type === 'auth').length;

    const far = client({ url: server.url, token: await token(600), getToken });
    await far.client.connect();
    await server.until(pings(0, 3), 'three pings');
    expect([calls, auths(0)]).toEqual([0, 0]);
    await far.client.close();

    const ahead = client({ url: server.url, token: await token(600), getToken });
    await ahead.client.connect();
    await server.until(pings(1, 3), 'three pings');
    expect([calls, auths(1)]).toEqual([0, 0]);
    send(server.peers[1]!, { type: 'expiring', expiresAt: skewed() });
    await ahead.rec.until(() => ahead.rec.authenticated.length === 2, 'auth_ok');
    await server.until(pings(1, 6), 'three more pings');
    expect([calls, auths(1)]).toEqual([1, 1]);
  });

  it('sdk - close 4001 gets a fresh token from getToken before reconnecting', async () => {
    const server = await scripted((peer, frame) => {
      if (frame) return;
      welcome(peer);
      if (peer.n === 0) peer.ws.close(4001, 'token invalid or expired');
    });
    const tokens = [await token(600), await token(900)];
    let calls = 0;
    const { client: c, rec } = client({ url: server.url, token: tokens[0], getToken: () => tokens[Math.min(++calls, 1)]! });
    await c.connect();
    await rec.until(() => rec.welcomes.length === 2, 'the reconnect');
    expect(calls).toBe(1);
    const offered = server.peers.map((p) => String(p.req.headers['sec-websocket-protocol']).split(/,\s*/));
    expect(offered).toEqual([
      ['navimpact.v1', `bearer.${tokens[0]}`],
      ['navimpact.v1', `bearer.${tokens[1]}`],
    ]);
    expect(rec.errors).toEqual([]);
  });

  it('sdk - close codes 4003, 4400 and 1009 stop the client with an error and no reconnect', async () => {
    for (const [code, errorCode] of [
      [4003, 'forbidden'],
      [4400, 'malformed_frame'],
      [1009, 'frame_too_large'],
    ] as const) {
      const server = await scripted((peer, frame) => {
        if (frame) return;
        welcome(peer);
        peer.ws.close(code);
      });
      const { client: c, rec } = client({ url: server.url, token: await token() });
      await c.connect();
      await rec.until(() => c.state === 'closed', `closed after ${code}`);
      expect(rec.errors.map((e) => [e.code, e.closeCode])).toEqual([[errorCode, code]]);
      expect(c.pendingTimers).toBe(0); // no reconnect scheduled
      expect(server.peers).toHaveLength(1);
    }
  });

  it('sdk - close() is idempotent, closes with 1000 and leaves no timer behind', async () => {
    const server = await scripted((peer, frame) => {
      if (!frame) return welcome(peer, 50);
      if (frame.type === 'ping') send(peer, { type: 'pong' });
    });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const { client: c, rec } = client({ url: server.url, getToken: () => token(60) });
    c.subscribe('grants');
    await c.connect();
    expect(c.pendingTimers).toBeGreaterThan(0); // heartbeat, watchdog, refresh
    const closedByPeer = once(server.peers[0]!.ws, 'close');
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    const [code] = (await closedByPeer) as [number];
    expect(code).toBe(1000);
    expect(c.state).toBe('closed');
    expect(c.pendingTimers).toBe(0);
    // Other code of the test process may have finished a timer meanwhile, never added one for us.
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
    expect(rec.states).toEqual(['connecting', 'open', 'closed']);
    await expect(c.connect()).rejects.toMatchObject({ code: 'closed' });
  });

  it('sdk - reconnect backoff has full jitter: attempt n waits in [0, min(max, base * 2^n))', () => {
    const options = { baseMs: 100, maxMs: 5_000 };
    const ceilings = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000];
    ceilings.forEach((ceiling, attempt) => {
      expect(backoffDelay(attempt, options, () => 0)).toBe(0);
      expect(backoffDelay(attempt, options, () => 0.999_999)).toBe(ceiling - 1);
      expect(backoffDelay(attempt, options, () => 0.5)).toBe(ceiling / 2);
    });
    expect(backoffDelay(1_000, options, () => 0.5)).toBe(2_500);
  });
});
