/**
 * A stack with each role in a process of its own, as an operator deploys it: a fresh
 * migrated database, a private nats-server, the shared Redis under a prefix of its own,
 * and `gateway`, `relay`, `invalidator` and `ingest` processes on ports of their own. A test
 * can stop and start any of them, and read their `/health` and `/metrics`.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { SECRET, token } from '../gateway/harness.js';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import type { Child } from '../support/process.js';
import { hasCode, startService } from '../support/service.js';

export const ROLES = ['gateway', 'relay', 'invalidator', 'ingest'] as const;
export type Role = (typeof ROLES)[number];

/** What each role's process logs once it is ready (the invalidator: once the cache has a watermark). */
const READY: Record<Role, (line: string) => boolean> = {
  gateway: hasCode('GatewayListening'),
  relay: hasCode('RelayLeaderAcquired'),
  invalidator: (l) => hasCode('InvalidatorReset')(l) || hasCode('InvalidatorResumed')(l),
  ingest: hasCode('HttpListening'),
};

export interface OpsStack {
  db: TestDatabase;
  nats: PrivateNats;
  prefix: string;
  ports: Record<Role, number>;
  children: Partial<Record<Role, Child>>;
  /** A monitor token (reads /metrics and /health details). */
  monitor: string;
  start(role: Role): Promise<void>;
  stop(role: Role, signal?: NodeJS.Signals): Promise<void>;
  get(role: Role, path: string, bearer?: string): Promise<{ status: number; text: string; json: any }>;
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

export async function startOpsStack(env: Record<string, string> = {}, roles: readonly Role[] = ROLES): Promise<OpsStack> {
  const db = await createTestDatabase();
  const migrate = startService({ DATABASE_URL: db.url }, ['migrate']);
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
  const nats = await PrivateNats.start();
  const prefix = `o${randomUUID().slice(0, 8)}:`;
  const ports = Object.fromEntries(await Promise.all(ROLES.map(async (r) => [r, await freePort()]))) as Record<Role, number>;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const children: Partial<Record<Role, Child>> = {};
  const stack: OpsStack = {
    db,
    nats,
    prefix,
    ports,
    children,
    monitor: await token({ sub: 'ops-monitor', role: 'monitor', ttlSec: 3_600 }),
    async start(role) {
      const child = startService({
        ROLES: role,
        DATABASE_URL: db.url,
        NATS_URL: nats.url,
        REDIS_URL: 'redis://127.0.0.1:6379',
        CACHE_PREFIX: prefix,
        PORT: String(ports[role]),
        JWT_SECRET: SECRET,
        RELAY_LEADER_POLL: '250ms',
        DATABASE_POOL_SIZE: '3',
        // A short fill window: the invalidator's reset waits it out twice.
        CACHE_TOMBSTONE_TTL: '2s',
        ...env,
      });
      children[role] = child;
      // Wide: on a loaded two-core machine a process takes tens of seconds to start.
      await child.waitFor(READY[role], 90_000, `${role} ready`);
    },
    async stop(role, signal = 'SIGTERM') {
      await children[role]?.kill(signal);
      delete children[role];
    },
    async get(role, path, bearer) {
      const res = await fetch(`http://127.0.0.1:${ports[role]}${path}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, text, json };
    },
    sql: (text, params) => client.query(text, params),
    async close() {
      await Promise.all(Object.values(children).map((c) => c?.kill('SIGKILL')));
      await client.end();
      await nats.stop();
      await db.drop();
    },
  };
  // The relay first: the others find stream GRANTS made (any of them would make it too).
  await stack.start('relay');
  await Promise.all(roles.filter((r) => r !== 'relay').map((r) => stack.start(r)));
  return stack;
}

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const head = labels ? `${name}{${labels}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${head} `));
  return line === undefined ? undefined : Number(line.slice(head.length + 1));
}

/** Names of the series families a `/metrics` answer declares (`# TYPE` lines). */
export function families(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!));
}
