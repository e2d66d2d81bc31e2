/**
 * bench/ingest: records per second from NATS to committed rows, against the same rows
 * written (a) by one COPY (the ceiling: no parsing, no NATS, one statement) and (b) by one
 * INSERT ... ON CONFLICT per record on one connection, autocommit (the naive way the
 * original scrapers wrote). All three write the real `grants` table with its capture
 * triggers, into a fresh database each round, on the shared Postgres (fsync and
 * synchronous_commit as configured there).
 *
 * The ingest run: every record is first published to stream SCRAPE of a private
 * nats-server (printed strings: "$5,000 - $50,000", "31/03/2027", "Victoria"), then ingest
 * starts as its users run it (`src/main.ts`, ROLES=ingest) and the clock runs from its
 * RoleStarted line until SCRAPE is empty (every record acknowledged, so committed). Peak
 * pool use is sampled from pg_stat_activity (connections of the ingest process, and
 * those of them running a statement).
 *
 * Usage: npm run bench:ingest -- [--records 50000] [--naive 5000] [--rounds 3]
 *          [--pool 4] [--concurrency 4] [--batch 500] [--node-options '--max-semi-space-size=64']
 * Prints one JSON document and writes it to bench/results/ingest.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from 'nats';
import type { GrantInput } from '../../src/domain/scraped.js';
import { normaliseRecord } from '../../src/normalise/record.js';
import { ensureScrapeStreams } from '../../src/bus/streams.js';
import { PrivateNats } from '../../test/support/nats.js';
import { testLog } from '../../test/support/log.js';
import { startService, hasCode } from '../../test/support/service.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '50000' },
    naive: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    pool: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '4' },
    batch: { type: 'string', default: '500' },
    'node-options': { type: 'string', default: '' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
  },
});
const RECORDS = Number(args.records);
const NAIVE = Math.min(Number(args.naive), RECORDS);
const ROUNDS = Number(args.rounds);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const APP = 'navimpact-ingest';

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

function dbUrl(name: string): string {
  const u = new URL(args['pg-url']!);
  u.pathname = `/${name}`;
  return u.toString();
}

async function freshDatabase(name: string): Promise<string> {
  await sql(args['pg-url']!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await sql(args['pg-url']!, `CREATE DATABASE ${name}`);
  const url = dbUrl(name);
  execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' } });
  return url;
}

async function dropDatabase(name: string): Promise<void> {
  await sql(args['pg-url']!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

function rawRecord(i: number): Record<string, unknown> {
  return {
    externalId: `bench-${i}`,
    title: `Bench grant ${i}: community infrastructure and local jobs`,
    description: `Funding for project ${i}. Applicants must be incorporated not-for-profit organisations operating in the region.`,
    agency: 'Department of Jobs, Skills, Industry and Regions',
    url: `https://www.example.gov.au/grants/${i}`,
    amount: `$${1 + (i % 50)},000 - $${100 + (i % 50)},000`,
    openDate: `${1 + (i % 28)} January 2027`,
    closeDate: `${1 + (i % 28)}/0${1 + (i % 9)}/2027`,
    status: i % 4 === 0 ? 'Opening soon' : 'Open',
    categories: 'Community, Infrastructure',
    locations: i % 3 === 0 ? 'Victoria' : i % 3 === 1 ? 'New South Wales, Queensland' : 'Australia-wide',
    vicOutcomeDomain: ['education', 'health', 'community', null][i % 4],
  };
}

const SOURCE = 'bench';
const raw = Array.from({ length: RECORDS }, (_, i) => rawRecord(i));

function normaliseAll(): { rows: GrantInput[]; perSecond: number } {
  const started = performance.now();
  const rows = raw.map((r) => {
    const result = normaliseRecord(r, SOURCE);
    if (!result.ok) throw new Error(`bench record invalid: ${JSON.stringify(result.errors)}`);
    return result.record;
  });
  return { rows, perSecond: RECORDS / ((performance.now() - started) / 1000) };
}

const csvText = (v: string | null) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`);
const csvArray = (a: string[]) => csvText(`{${a.map((x) => `"${x.replace(/(["\\])/g, '\\$1')}"`).join(',')}}`);

function toCsv(rows: GrantInput[]): string {
  return rows
    .map((r) =>
      [
        csvText(r.source), csvText(r.externalId), csvText(r.title), csvText(r.description), csvText(r.agency), csvText(r.url),
        r.minAmount ?? '', r.maxAmount ?? '', csvText(r.currency), r.openDate ?? '', r.closeDate ?? '', csvText(r.status),
        csvArray(r.categories), csvArray(r.locations), csvText(r.vicOutcomeDomain),
      ].join(','),
    )
    .join('\n');
}

const COLUMNS = 'source, external_id, title, description, agency, url, min_amount, max_amount, currency, open_date, close_date, status, categories, locations, vic_outcome_domain';

async function runCopy(rows: GrantInput[], round: number): Promise<number> {
  const name = `bench_ingest_copy_${round}`;
  const url = await freshDatabase(name);
  const dir = join(tmpdir(), `navimpact-bench-ingest-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const file = join(dir, 'rows.csv');
  writeFileSync(file, toCsv(rows));
  chmodSync(file, 0o644);
  try {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const started = performance.now();
    await c.query(`COPY grants (${COLUMNS}) FROM '${file}' WITH (FORMAT csv)`);
    const seconds = (performance.now() - started) / 1000;
    await c.end();
    const [n] = await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM grants');
    if (Number(n!.n) !== rows.length) throw new Error(`COPY wrote ${n!.n} rows, expected ${rows.length}`);
    return rows.length / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(name);
  }
}

async function runNaive(rows: GrantInput[], round: number): Promise<number> {
  const name = `bench_ingest_naive_${round}`;
  const url = await freshDatabase(name);
  try {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const subset = rows.slice(0, NAIVE);
    const text = `INSERT INTO grants (${COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
      ON CONFLICT (source, external_id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description, agency = EXCLUDED.agency, url = EXCLUDED.url,
      min_amount = EXCLUDED.min_amount, max_amount = EXCLUDED.max_amount, currency = EXCLUDED.currency, open_date = EXCLUDED.open_date, close_date = EXCLUDED.close_date,
      status = EXCLUDED.status, categories = EXCLUDED.categories, locations = EXCLUDED.locations, vic_outcome_domain = EXCLUDED.vic_outcome_domain`;
    const started = performance.now();
    for (const r of subset) {
      await c.query({
        name: 'naive',
        text,
        values: [r.source, r.externalId, r.title, r.description, r.agency, r.url, r.minAmount, r.maxAmount, r.currency, r.openDate, r.closeDate, r.status, r.categories, r.locations, r.vicOutcomeDomain],
      });
    }
    const seconds = (performance.now() - started) / 1000;
    await c.end();
    return subset.length / seconds;
  } finally {
    await dropDatabase(name);
  }
}

async function runIngest(round: number): Promise<{ perSecond: number; peakConnections: number; peakActive: number; samples: number; seconds: number; ingestCpuSeconds: number; postgresCpuSeconds: number }> {
  const name = `bench_ingest_nats_${round}`;
  const url = await freshDatabase(name);
  const nats = await PrivateNats.start();
  let child: ReturnType<typeof startService> | undefined;
  try {
    // Publish everything first: the stream holds it, as it would after a burst of scrapers.
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await ensureScrapeStreams(jsm, { duplicateWindowMs: 3_600_000, maxBytes: 1_073_741_824, maxRecordBytes: 1_048_576, maxPerSource: 1_000_000, rejectedMaxAgeMs: 86_400_000, replicas: 1 }, testLog);
    const js = nc.jetstream();
    for (let i = 0; i < raw.length; i += 1_000) {
      await Promise.all(raw.slice(i, i + 1_000).map((r) => js.publish(`scrape.grants.${SOURCE}`, JSON.stringify(r))));
    }
    if ((await jsm.streams.info('SCRAPE')).state.messages !== RECORDS) throw new Error('not every record reached SCRAPE');

    let peakConnections = 0;
    let peakActive = 0;
    let samples = 0;
    let sampling = true;
    const backends = new Set<number>();
    const sampler = (async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      while (sampling) {
        const { rows } = await c.query<{ total: string; active: string; pids: number[] }>(
          "SELECT count(*) AS total, count(*) FILTER (WHERE state = 'active') AS active, array_agg(pid) AS pids FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
          [name, APP],
        );
        for (const pid of rows[0]!.pids ?? []) backends.add(pid);
        peakConnections = Math.max(peakConnections, Number(rows[0]!.total));
        peakActive = Math.max(peakActive, Number(rows[0]!.active));
        samples++;
        await new Promise((r) => setTimeout(r, 10));
      }
      await c.end();
    })();

    child = startService({
      DATABASE_URL: url,
      NATS_URL: nats.url,
      ROLES: 'ingest',
      LOG_LEVEL: 'info',
      DATABASE_POOL_SIZE: args.pool!,
      INGEST_CONCURRENCY: args.concurrency!,
      INGEST_BATCH_SIZE: args.batch!,
      ...(args['node-options'] ? { NODE_OPTIONS: args['node-options'] } : {}),
    });
    await child.waitFor(hasCode('RoleStarted'), 60_000, 'ingest started');
    const started = performance.now();
    const childPid = child.proc.pid!;
    const cpuBefore = cpuSeconds(childPid);
    let pgBefore = -1;
    for (;;) {
      const info = await jsm.streams.info('SCRAPE');
      if (pgBefore < 0 && backends.size > 0) pgBefore = [...backends].reduce((sum, pid) => sum + cpuSeconds(pid), 0);
      if (info.state.messages === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - started) / 1000;
    const ingestCpuSeconds = cpuSeconds(childPid) - cpuBefore;
    const postgresCpuSeconds = [...backends].reduce((sum, pid) => sum + cpuSeconds(pid), 0) - Math.max(0, pgBefore);
    sampling = false;
    await sampler;
    await nc.close();
    const [n] = await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM grants');
    if (Number(n!.n) !== RECORDS) throw new Error(`ingest wrote ${n!.n} rows, expected ${RECORDS}`);
    return { perSecond: RECORDS / seconds, peakConnections, peakActive, samples, seconds, ingestCpuSeconds, postgresCpuSeconds };
  } finally {
    await child?.kill('SIGKILL');
    await nats.stop();
    await dropDatabase(name);
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const { rows, perSecond: normalisePerSecond } = normaliseAll();
  const copy: number[] = [];
  const naive: number[] = [];
  const ingest: Awaited<ReturnType<typeof runIngest>>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    copy.push(await runCopy(rows, round));
    naive.push(await runNaive(rows, round));
    ingest.push(await runIngest(round));
    process.stderr.write(`round ${round + 1}/${ROUNDS}: copy ${copy.at(-1)!.toFixed(0)}/s, naive ${naive.at(-1)!.toFixed(0)}/s, ingest ${ingest.at(-1)!.perSecond.toFixed(0)}/s\n`);
  }
  const ingestRate = median(ingest.map((r) => r.perSecond));
  const copyRate = median(copy);
  const naiveRate = median(naive);
  const result = {
    bench: 'ingest',
    at: new Date().toISOString(),
    command: `npm run bench:ingest -- --records ${RECORDS} --naive ${NAIVE} --rounds ${ROUNDS} --pool ${args.pool} --concurrency ${args.concurrency} --batch ${args.batch}${args['node-options'] ? ` --node-options '${args['node-options']}'` : ''}`,
    machine: { cores: cpus().length, loadAverage1mBefore: loadBefore[0], loadAverage1mAfter: loadavg()[0], postgres: 'shared server, settings as found (fsync, synchronous_commit)', nats: 'private nats-server, file storage' },
    workload: `${RECORDS} valid records with printed amounts, dates and states; all three write the real grants table with its capture triggers into an empty database; naive measured on the first ${NAIVE}`,
    recordsPerSecond: {
      ingestFromNats: ingestRate,
      copyCeiling: copyRate,
      naiveInsertPerRecord: naiveRate,
      normaliseOnly: normalisePerSecond,
    },
    ratios: {
      ingestVsCopy: ingestRate / copyRate,
      ingestVsNaive: ingestRate / naiveRate,
      goals: { ingestVsCopy: 'at least 0.5', ingestVsNaive: 'at least 10' },
      met: { ingestVsCopy: ingestRate / copyRate >= 0.5, ingestVsNaive: ingestRate / naiveRate >= 10 },
      // Each round measures the three one after another, under the same machine load; its
      // ratios are the fairer comparison when other work shares the machine.
      perRound: ingest.map((r, i) => ({ ingestVsCopy: r.perSecond / copy[i]!, ingestVsNaive: r.perSecond / naive[i]! })),
      medianOfRounds: {
        ingestVsCopy: median(ingest.map((r, i) => r.perSecond / copy[i]!)),
        ingestVsNaive: median(ingest.map((r, i) => r.perSecond / naive[i]!)),
      },
    },
    pool: {
      size: Number(args.pool),
      concurrency: Number(args.concurrency),
      batch: Number(args.batch),
      peakConnections: Math.max(...ingest.map((r) => r.peakConnections)),
      peakActive: Math.max(...ingest.map((r) => r.peakActive)),
      samples: ingest.reduce((s, r) => s + r.samples, 0),
    },
    rounds: { copy, naive, ingest },
  };
  const out = JSON.stringify(result, null, 2);
  process.stdout.write(`${out}\n`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/ingest.json'), `${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ingest failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
