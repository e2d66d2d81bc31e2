/**
 * What a phase stands on, as the gateway bench deploys it (bench/gateway/env.ts): a private
 * nats-server, a fresh database migrated by the service and seeded with the catalogue (the
 * second phase's a copy of the first's), the service's relay as its own process
 * (`src/main.ts`, ROLES=relay), and the gateway as another (`src/main.ts`, ROLES=gateway,
 * APP_ENV=production). Written again here because bench/gateway/env.ts reads the gateway
 * bench's command line.
 */
import pg from 'pg';
import { PrivateNats } from '../common/nats.js';
import { BenchDatabase, migrate } from '../common/postgres.js';
import { startTs, type Proc } from '../common/processes.js';
import { sleep } from '../common/time.js';
import { ViewsCommitter } from './commits.js';
import type { BenchGrant } from './corpus.js';

export interface Pipeline {
  nats: PrivateNats;
  db: BenchDatabase;
  relay: Proc;
  committer: ViewsCommitter;
}

export interface Gateway {
  proc: Proc;
  port: number;
  pid: number;
}

/**
 * Two pipelines on identical databases: one is migrated and seeded with `grants`, the other
 * copied from it (Postgres's TEMPLATE), so both hold the same rows under the same ids and
 * the two phases' events are byte for byte alike. Each is ready once its relay has
 * published the seeded inserts.
 */
export async function setUpTwo(pgUrl: string, grants: readonly BenchGrant[], changeSeed: number): Promise<Pipeline[]> {
  const first = await BenchDatabase.create(pgUrl, 'bench_views');
  const dbs = [first];
  try {
    migrate(first.url);
    await ViewsCommitter.seed(first.url, grants);
    dbs.push(await BenchDatabase.create(pgUrl, 'bench_views', first));
  } catch (err) {
    for (const db of dbs) await db.drop().catch(() => undefined);
    throw err;
  }
  const made = await Promise.allSettled(dbs.map((db) => pipeline(db, grants, changeSeed)));
  const ready = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
  const failed = made.find((m) => m.status === 'rejected');
  if (failed) {
    for (const p of ready) await tearDown(p, () => undefined);
    throw failed.reason;
  }
  return ready;
}

async function pipeline(db: BenchDatabase, grants: readonly BenchGrant[], changeSeed: number): Promise<Pipeline> {
  const parts: Partial<Pipeline> & { db: BenchDatabase } = { db };
  try {
    const nats = (parts.nats = await PrivateNats.start());
    parts.committer = await ViewsCommitter.open(db.url, grants, changeSeed);
    const relay = (parts.relay = startTs('relay', 'src/main.ts', { ROLES: 'relay', DATABASE_URL: db.url, NATS_URL: nats.url, LOG_LEVEL: 'info', APP_ENV: 'production', DATABASE_POOL_SIZE: '2' }));
    await relay.waitFor((l) => l.includes('"code":"RelayLeaderAcquired"'), 60_000);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      for (let i = 0; i < 1_200; i++) {
        const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM grant_changes');
        if (rows[0]!.n === '0') break;
        await sleep(100);
      }
    } finally {
      await c.end();
    }
    return parts as Pipeline;
  } catch (err) {
    await tearDown(parts, () => undefined);
    throw err;
  }
}

/** Stops what a pipeline started (as far as it got) and drops its database. */
export async function tearDown(p: Partial<Pipeline> & { db: BenchDatabase }, log: (m: string) => void): Promise<void> {
  await p.committer?.end().catch(() => undefined);
  await p.relay?.stop().catch(() => undefined);
  await p.nats?.stop().catch(() => undefined);
  await p.db.drop().catch((err: unknown) => log(`could not drop ${p.db.name}: ${(err as Error).message}`));
}

/** The gateway on a free port of 127.0.0.1; `nodeArgs` e.g. `--inspect=127.0.0.1:0` for profiling. */
export async function startGateway(p: Pipeline, secret: string, nodeArgs: string[] = []): Promise<Gateway> {
  const proc = startTs(
    'gateway',
    'src/main.ts',
    {
      ROLES: 'gateway',
      HOST: '127.0.0.1',
      PORT: '0',
      NATS_URL: p.nats.url,
      DATABASE_URL: p.db.url,
      DATABASE_POOL_SIZE: '2',
      // The shared Redis (as in the gateway bench), under keys of this run alone.
      CACHE_PREFIX: `${p.db.name}:`,
      JWT_SECRET: secret,
      APP_ENV: 'production',
      LOG_LEVEL: 'info',
      // Each bench client has its own `sub`; the limits are raised as in the gateway bench
      // so none of them is what a run measures (a client sends one frame).
      GATEWAY_MAX_CONNECTIONS_PER_SUB: '100000',
      GATEWAY_RATE_LIMIT: '1000',
    },
    nodeArgs,
  );
  const line = await proc.waitFor((l) => l.includes('"code":"GatewayListening"'), 60_000);
  const port = (JSON.parse(line) as { port: number }).port;
  await sleep(500);
  return { proc, port, pid: proc.realPid() };
}
