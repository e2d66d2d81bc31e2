/**
 * What a measured server stands on: a pipeline of a fresh database, a relay process and a
 * private nats-server (one per fan-out target), and the servers themselves: the gateway
 * (`src/main.ts`, ROLES=gateway) or a comparison server from servers/.
 */
import { connect } from 'nats';
import pg from 'pg';
import { PrivateNats } from '../common/nats.js';
import { BenchDatabase, migrate } from '../common/postgres.js';
import { startTs, type Proc } from '../common/processes.js';
import { PrivateRedis } from '../common/redis.js';
import { sleep } from '../common/time.js';
import { Committer } from './commits.js';
import { CFG, JWT_SECRET, args, cpuProfArgs } from './options.js';
import type { Target } from './wire.js';

export interface Env {
  nats: PrivateNats;
  db: BenchDatabase;
  /** The relay process; none when the gateway runs the relay role itself (`--gateway-roles`). */
  relay: Proc | undefined;
  /** A private redis-server for a gateway process with the invalidator role. */
  redis: PrivateRedis | undefined;
  committer: Committer;
}

const rolesOf = (target: Target): string[] => (target === 'gateway' ? CFG.gatewayRoles : []);

export interface Server {
  proc: Proc;
  port: number;
  pid: number;
}

export async function startServer(env: Env, target: Target, nodeArgs: string[] = []): Promise<Server> {
  const common = { NATS_URL: env.nats.url, PORT: '0' };
  const proc =
    target === 'gateway'
      ? startTs('gateway', 'src/main.ts', {
          ...common,
          ROLES: CFG.gatewayRoles.join(','),
          ...(env.redis && { REDIS_URL: env.redis.url }),
          HOST: '127.0.0.1',
          DATABASE_URL: env.db.url,
          DATABASE_POOL_SIZE: '2',
          JWT_SECRET,
          APP_ENV: 'production',
          LOG_LEVEL: 'info',
          // Each bench client has its own `sub`; the limits are raised so none of them is
          // what a run measures (a client sends one frame).
          GATEWAY_MAX_CONNECTIONS_PER_SUB: '100000',
          GATEWAY_RATE_LIMIT: '1000',
          // Admission (CONTRACT v1.1 section 5, default 500 upgrades a second) is a deliberate
          // cap that bench:storm measures; here it would be all the handshake phase measured
          // (500/s), and it would refuse the memory phase's connections.
          GATEWAY_ACCEPT_RATE: '100000',
        }, nodeArgs)
      : startTs(target, `bench/gateway/servers/${target}.ts`, { ...common, JWT_SECRET }, nodeArgs);
  const line = await proc.waitFor((l) => l.includes('"code":"GatewayListening"'), 60_000);
  const port = (JSON.parse(line) as { port: number }).port;
  if (rolesOf(target).includes('relay')) await logDrained(env.db.url);
  await sleep(500);
  return { proc, port, pid: proc.realPid() };
}

/**
 * One pipeline for `target`: nats-server, migrated database with `--rows` grants, and a relay
 * process (ready once the change log is empty), unless the target's gateway process runs
 * the relay role itself.
 */
export async function setUp(target: Target): Promise<Env> {
  const nats = await PrivateNats.start();
  const db = await BenchDatabase.create(args['pg-url']!, 'bench_gateway');
  migrate(db.url);
  const committer = await Committer.create(db.url, CFG.rows, CFG.descriptionChars);
  const roles = rolesOf(target);
  const redis = roles.includes('invalidator') ? await PrivateRedis.start('redis') : undefined;
  if (roles.includes('relay')) return { nats, db, relay: undefined, redis, committer };
  const relay = startTs('relay', 'src/main.ts', { ROLES: 'relay', DATABASE_URL: db.url, NATS_URL: nats.url, LOG_LEVEL: 'info', APP_ENV: 'production', DATABASE_POOL_SIZE: '2', PORT: '0', JWT_SECRET }, cpuProfArgs(`relay-${db.name}`));
  await relay.waitFor((l) => l.includes('"code":"RelayLeaderAcquired"'), 60_000);
  await logDrained(db.url);
  return { nats, db, relay, redis, committer };
}

/** The seed rows' insert events go out first; the bench starts once the change log is empty. */
async function logDrained(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (let i = 0; i < 600; i++) {
    const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM grant_changes');
    if (rows[0]!.n === '0') break;
    await sleep(100);
  }
  await c.end();
}

/** Size of one grant frame as the servers send it, read back from the stream. */
export async function frameBytes(env: Env): Promise<number> {
  await env.committer.commitOne();
  const nc = await connect({ servers: env.nats.url });
  const jsm = await nc.jetstreamManager();
  for (let i = 0; i < 100; i++) {
    const info = await jsm.streams.info('GRANTS');
    const msg = await jsm.streams.getMessage('GRANTS', { seq: info.state.last_seq });
    const text = new TextDecoder().decode(msg.data);
    if (text.includes('"op":"update"')) {
      await nc.close();
      return Buffer.byteLength(`{"type":"grant",${text.slice(1)}`);
    }
    await sleep(100);
  }
  await nc.close();
  return NaN;
}
