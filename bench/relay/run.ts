/**
 * bench/relay: what change capture costs writers, and how far behind the relay runs.
 *
 * 1. Trigger overhead: pgbench (as its users run it: -c clients, -j threads, -T seconds,
 *    prepared statements) runs the same single-row UPDATE script against three copies of
 *    the schema in the same Postgres: no triggers, the version stamp only, and full capture
 *    (stamp + change log + NOTIFY) with the relay running and draining the log. Committed
 *    updates/s of each; overhead = 1 - capture/baseline.
 * 2. Relay lag, commit to NATS, p50/p99, measured by a probe writer beside the load (see
 *    withRelay), at the highest rate pgbench sustains and at fixed fractions of it
 *    (pgbench -R).
 *
 * 3. With `--pg-profile`, the first round's three pgbench runs are sampled with `perf`: the
 *    CPU Postgres spends per update, by part (pg-profile.ts), in `postgresProfile`.
 *
 * Usage: npm run bench:relay -- [--seconds 10] [--clients 8] [--rows 10000] [--rounds 3] [--cpu-prof DIR] [--pg-profile]
 * Prints one JSON document and writes it to bench/results/relay.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from 'nats';
import { cpuProfArgs, SERVICE_NODE_ARGS } from '../common/processes.js';
import { perfAvailable, profilePostgres, type PgProfile } from './pg-profile.js';
import { stampFunction } from '../../src/db/migrations/007_update_logged_by_stamp.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '8' },
    rows: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
    'nats-url': { type: 'string', default: '' },
    'cpu-prof': { type: 'string' },
    'pg-profile': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const ROWS = Number(args.rows);
const ROUNDS = Number(args.rounds);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(text);
  await c.end();
}

function dbUrl(name: string): string {
  const u = new URL(args['pg-url']!);
  u.pathname = `/${name}`;
  return u.toString();
}

async function prepare(name: string, mode: 'none' | 'stamp' | 'capture'): Promise<string> {
  await sql(args['pg-url']!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await sql(args['pg-url']!, `CREATE DATABASE ${name}`);
  const url = dbUrl(name);
  execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' } });
  if (mode !== 'capture') {
    // Migration 007: an update's log row is written by the stamp, so the stamp-only copy
    // gets the stamp without it.
    await sql(url, 'DROP TRIGGER grants_capture_insert_delete ON grants; DROP TRIGGER grants_capture_truncate ON grants');
    await sql(url, stampFunction(false));
  }
  if (mode === 'none') await sql(url, 'DROP TRIGGER grants_stamp ON grants');
  await sql(
    url,
    `INSERT INTO grants (source, external_id, title, description, min_amount, max_amount, locations, categories)
     SELECT 'bench', 'b' || g, 'Bench grant ' || g, repeat('Description text. ', 20), 1000, 50000, '{VIC,NSW}', '{community}'
     FROM generate_series(1, ${ROWS}) g`,
  );
  await sql(url, "INSERT INTO grants (source, external_id, title) SELECT 'probe', 'p' || g, 'Probe ' || g FROM generate_series(0, 99) g");
  await sql(url, 'DELETE FROM grant_changes');
  await sql(url, 'VACUUM ANALYZE grants');
  await sql(url, 'VACUUM grant_changes');
  return url;
}

interface PgbenchResult {
  tps: number;
  latencyMsAvg: number;
  transactions: number;
}

/** Runs pgbench without blocking this process (the lag subscriber must keep reading). */
async function pgbench(url: string, rate?: number): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-relay-'));
  const script = join(dir, 'update.sql');
  writeFileSync(script, `\\set id random(1, ${ROWS})\nUPDATE grants SET max_amount = max_amount + 1 WHERE source = 'bench' AND external_id = 'b' || :id;\n`);
  const u = new URL(url);
  const child = spawn(
    'pgbench',
    ['-h', u.hostname, '-p', u.port || '5432', '-U', u.username || 'root', '-n', '-M', 'prepared', '-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), '-f', script, ...(rate ? ['-R', String(rate)] : []), u.pathname.slice(1)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`pgbench failed (${code}):\n${out}`);
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  const latency = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
  return { tps, latencyMsAvg: latency, transactions };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface LagStats {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

function stats(values: number[]): LagStats {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, samples: sorted.length };
}

/**
 * Runs `run` with a relay publishing the capture database. Two lag measures:
 * - `lagMs`: a probe writer commits 50 updates/s of its own rows beside the load and notes
 *   when each COMMIT returned; lag = that event's arrival at a NATS subscriber minus that
 *   moment. This is commit-to-NATS as a writer sees it.
 * - `lagFromChangeMs`: every event's arrival minus its `committedAt` (the time of the
 *   writing statement, so it also counts the wait for the commit itself).
 */
async function withRelay<T>(url: string, natsUrl: string, run: () => Promise<T>): Promise<T & { lagMs: LagStats; lagFromChangeMs: LagStats; events: number }> {
  // --cpu-prof DIR: each relay writes V8 CPU profiles into DIR/relay/ when it stops.
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, ...cpuProfArgs(args['cpu-prof'], 'relay'), '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    // Every process listens (PORT 0: a free one) and, in production, verifies /metrics tokens.
    env: { ...process.env, DATABASE_URL: url, NATS_URL: natsUrl, ROLES: 'relay', LOG_LEVEL: 'info', APP_ENV: 'production', PORT: '0', JWT_SECRET: 'bench-relay-secret-0123456789-abcdefghijkl' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The relay is ready once it leads.
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.includes('"code":"RelayLeaderAcquired"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`relay exited (${code}) before leading`)));
  });
  const nc = await connect({ servers: natsUrl });
  const now = () => performance.timeOrigin + performance.now();
  const fromChange: number[] = [];
  const received = new Map<string, number>();
  let events = 0;
  const sub = nc.subscribe('grants.changed.>', {
    callback: (_err, msg) => {
      const at = now();
      events++;
      const e = msg.json<{ id: string; version: number; committedAt: string; grant: { source: string } | null }>();
      fromChange.push(at - Date.parse(e.committedAt));
      if (e.grant?.source === 'probe') received.set(`${e.id}/${e.version}`, at);
    },
  });
  await nc.flush();

  const committed = new Map<string, number>();
  let probing = true;
  const probeClient = new pg.Client({ connectionString: url });
  await probeClient.connect();
  const probe = (async () => {
    for (let n = 0; probing; n++) {
      const started = now();
      const { rows } = await probeClient.query<{ id: string; version: string }>(
        "UPDATE grants SET title = 'probe ' || $1 WHERE source = 'probe' AND external_id = 'p' || ($1 % 100) RETURNING id, version",
        [n],
      );
      committed.set(`${rows[0]!.id}/${rows[0]!.version}`, now());
      await new Promise((r) => setTimeout(r, Math.max(0, 20 - (now() - started))));
    }
  })();
  const result = await run();
  probing = false;
  await probe;

  // Let the relay drain what the run left behind before reading lags.
  for (let i = 0; i < 600; i++) {
    const { rows } = await probeClient.query<{ n: string }>('SELECT count(*) AS n FROM grant_changes');
    if (rows[0]!.n === '0') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await probeClient.end();
  await nc.flush();
  sub.unsubscribe();
  await nc.close();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  const probeLags = [...committed].flatMap(([key, at]) => (received.has(key) ? [Math.max(0, received.get(key)! - at)] : []));
  if (probeLags.length < committed.size) throw new Error(`${committed.size - probeLags.length} probe changes never arrived`);
  return { ...result, lagMs: stats(probeLags), lagFromChangeMs: stats(fromChange), events };
}

async function main(): Promise<void> {
  let natsUrl = args['nats-url']!;
  let natsProc;
  if (!natsUrl) {
    // A private nats-server keeps the bench's stream away from anything else on the machine.
    const port = 14_000 + Math.floor(Math.random() * 1_000);
    const store = mkdtempSync(join(tmpdir(), 'bench-nats-'));
    natsProc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
    natsUrl = `nats://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      try {
        const nc = await connect({ servers: natsUrl });
        await nc.close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });

  const baselineUrl = await prepare('bench_relay_none', 'none');
  const stampUrl = await prepare('bench_relay_stamp', 'stamp');
  const captureUrl = await prepare('bench_relay_capture', 'capture');

  // Interleave the runs (none, stamp, capture, repeated) so drift in the machine hits all.
  const runs = {
    none: [] as PgbenchResult[],
    stamp: [] as PgbenchResult[],
    captureRelayStopped: [] as PgbenchResult[],
    capture: [] as (PgbenchResult & { lagMs: LagStats; lagFromChangeMs: LagStats })[],
  };
  const profiles: Record<string, PgProfile> = {};
  const profiling = args['pg-profile']! && perfAvailable();
  if (args['pg-profile'] && !profiling) process.stderr.write('bench/relay: --pg-profile needs perf (Debian: linux-perf); running unprofiled\n');
  // The first round's runs under perf when asked (pg-profile.ts); every other run as is.
  const measure = async (name: string, url: string, round: number) => {
    if (!profiling || round > 0) return pgbench(url);
    const { result, profile } = await profilePostgres(SECONDS, () => pgbench(url));
    profiles[name] = profile;
    return result;
  };
  for (let round = 0; round < ROUNDS; round++) {
    runs.none.push(await measure('noTriggers', baselineUrl, round));
    runs.stamp.push(await measure('stampOnly', stampUrl, round));
    // Triggers alone: the log fills, nobody drains it (the relay's own CPU is left out).
    // The wake-up flag is set to "busy", as it is whenever the relay has work, so writers
    // do not NOTIFY (see docs/capture.md); and the trigger logs what a relay of this release
    // reads (migration 006), as it does once one has led.
    await sql(captureUrl, 'UPDATE capture_wakeup SET relay_idle = false, previous_changed_only = true');
    runs.captureRelayStopped.push(await measure('captureTriggersRelayStopped', captureUrl, round));
    await sql(captureUrl, 'DELETE FROM grant_changes');
    await sql(captureUrl, 'VACUUM grant_changes');
    runs.capture.push(await withRelay(captureUrl, natsUrl, () => pgbench(captureUrl)));
  }
  const best = (xs: PgbenchResult[]) => Math.max(...xs.map((x) => x.tps));
  const maxCapture = best(runs.capture);
  const fixedRates = [0.25, 0.5, 0.75].map((f) => Math.round(maxCapture * f));
  const atRates = [];
  for (const rate of fixedRates) atRates.push({ targetTps: rate, ...(await withRelay(captureUrl, natsUrl, () => pgbench(captureUrl, rate))) });

  const report = {
    bench: 'relay',
    at: new Date().toISOString(),
    command: `npm run bench:relay -- --seconds ${SECONDS} --clients ${CLIENTS} --rows ${ROWS} --rounds ${ROUNDS}${profiling ? ' --pg-profile' : ''}`,
    machine: { cores: (await import('node:os')).cpus().length, postgres: 'shared server, fsync on, synchronous_commit on' },
    workload: `pgbench -M prepared -c ${CLIENTS} -j 2 -T ${SECONDS}: single-row UPDATE of one of ${ROWS} grants by unique key, autocommit`,
    updatesPerSecond: {
      noTriggers: best(runs.none),
      stampOnly: best(runs.stamp),
      captureTriggersRelayStopped: best(runs.captureRelayStopped),
      captureWithRelayDraining: maxCapture,
    },
    overhead: {
      triggersVsNoTriggers: 1 - best(runs.captureRelayStopped) / best(runs.none),
      triggersAndRelayVsNoTriggers: 1 - maxCapture / best(runs.none),
      triggersAndRelayVsStampOnly: 1 - maxCapture / best(runs.stamp),
      goal: 'under 0.30',
    },
    lagAtMaxRate: runs.capture.map((r) => ({ tps: r.tps, lagMs: r.lagMs, lagFromChangeMs: r.lagFromChangeMs })),
    lagAtFixedRates: atRates.map((r) => ({ targetTps: r.targetTps, tps: r.tps, lagMs: r.lagMs, lagFromChangeMs: r.lagFromChangeMs })),
    lagGoal: 'p99 under 100 ms',
    /** With --pg-profile: Postgres CPU per update by part, first round (pg-profile.ts). */
    ...(profiling && { postgresProfile: profiles }),
    runs,
  };
  const json = JSON.stringify(report, null, 2);
  writeFileSync(join(ROOT, 'bench/results/relay.json'), json + '\n');
  process.stdout.write(json + '\n');
  natsProc?.kill('SIGTERM');
  for (const name of ['bench_relay_none', 'bench_relay_stamp', 'bench_relay_capture']) await sql(args['pg-url']!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/relay failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
