/**
 * A real stack for gateway tests: a fresh database, a private nats-server, the relay and the
 * gateway each in its own process (they meet only through NATS), and raw WebSocket clients.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { SignJWT, type JWTPayload } from 'jose';
import { WebSocket } from 'ws';
import pg from 'pg';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startService, hasCode } from '../support/service.js';
import type { Child } from '../support/process.js';

export const SECRET = 'gateway-test-secret-0123456789-abcdefghij';
export const ORIGIN = 'https://app.example.org';

export interface Stack {
  db: TestDatabase;
  nats: PrivateNats;
  relay: Child;
  gateway: Child;
  port: number;
  env: Record<string, string>;
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const db = await createTestDatabase();
  const migrate = startService({ DATABASE_URL: db.url }, ['migrate']);
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
  const nats = await PrivateNats.start();
  const base = { DATABASE_URL: db.url, NATS_URL: nats.url };
  const relay = startService({ ...base, ROLES: 'relay', RELAY_LEADER_POLL: '250ms' });
  await relay.waitFor(hasCode('RelayLeaderAcquired'));
  // A fixed free port: uWS sets SO_REUSEADDR only for a non-zero port, so a gateway started
  // on port 0 could not be restarted on the port it got.
  // A cache prefix of its own: stacks share the machine's Redis.
  const gatewayEnv = { ...base, ROLES: 'gateway', PORT: String(await freePort()), JWT_SECRET: SECRET, CORS_ORIGINS: ORIGIN, CACHE_PREFIX: `t${randomUUID().slice(0, 8)}:`, ...env };
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const stack: Stack = {
    db,
    nats,
    relay,
    gateway: undefined as unknown as Child,
    port: 0,
    env: gatewayEnv,
    sql: (text, params) => client.query(text, params),
    async restartGateway() {
      await stack.gateway?.kill('SIGTERM');
      // The port was free when picked; if another test took it meanwhile, pick another.
      for (let attempt = 0; ; attempt++) {
        stack.gateway = startService(gatewayEnv);
        try {
          const line = await stack.gateway.waitFor(hasCode('GatewayListening'), 20_000, 'gateway listening');
          stack.port = (JSON.parse(line) as { port: number }).port;
          return;
        } catch (err) {
          if (attempt === 2 || !stack.gateway.lines.some((l) => l.includes('cannot listen'))) throw err;
          gatewayEnv.PORT = String(await freePort());
        }
      }
    },
    async stop() {
      await stack.gateway?.kill('SIGKILL');
      await relay.kill('SIGKILL');
      await client.end();
      await nats.stop();
      await db.drop();
    },
  };
  await stack.restartGateway();
  return stack;
}

export interface TokenOptions {
  sub?: string;
  role?: string;
  ttlSec?: number;
  secret?: string;
  claims?: JWTPayload;
}

export function token(o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ ...(o.role ? { role: o.role } : {}), ...o.claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(o.sub ?? 'alice');
  jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.ttlSec ?? 300));
  return jwt.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

export type Frame = { type: string; [key: string]: unknown };

/** A raw WebSocket client that keeps every frame and lets a test await them. */
export class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { test: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const frame = JSON.parse(isBinary ? '{"type":"binary"}' : data.toString()) as Frame;
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (w.test(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(frame);
        }
      }
    });
    this.closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (already received or to come) passing `test`. */
  next(test: (f: Frame) => boolean, timeoutMs = 10_000, what = 'frame'): Promise<Frame> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(): void {
    this.ws.close();
  }
}

export interface ConnectOptions {
  token?: string;
  via?: 'header' | 'subprotocol';
  origin?: string;
  protocols?: string[];
  localAddress?: string;
  /** false: never answer protocol pings (a peer that went silent). */
  autoPong?: boolean;
}

/** Opens `/v1/live`; resolves once the welcome frame arrived, rejects with the HTTP status of a refused upgrade. */
export async function connect(port: number, o: ConnectOptions = {}): Promise<Client> {
  const headers: Record<string, string> = {};
  if (o.origin) headers.origin = o.origin;
  let protocols = o.protocols ?? ['navimpact.v1'];
  if (o.token && o.via === 'header') headers.authorization = `Bearer ${o.token}`;
  else if (o.token) protocols = [...protocols, `bearer.${o.token}`];
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/live`, protocols, {
    headers,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    ...(o.autoPong === false ? { autoPong: false } : {}),
  });
  const client = new Client(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
    ws.once('open', () => resolve());
  });
  await client.next((f) => f.type === 'welcome', 5_000, 'welcome');
  return client;
}

/** The HTTP status of a refused upgrade (fails the test if the upgrade succeeded). */
export async function refusal(port: number, o: ConnectOptions): Promise<{ status: number; body: string }> {
  try {
    const c = await connect(port, o);
    c.close();
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status) return { status: e.status, body: e.body ?? '' };
    throw err;
  }
  throw new Error('the upgrade was accepted');
}

/** Runs `run` for 0..count-1, `parallel` at a time. */
export async function inParallel(count: number, parallel: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await run(next++);
    }),
  );
}
