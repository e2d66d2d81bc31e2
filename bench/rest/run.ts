/**
 * bench/rest: cached `GET /v1/grants/:id` under load (issue 4, "Benchmark").
 *
 * Targets, all in one command, all on 127.0.0.1, each one process:
 * - `bare`: a bare uWebSockets.js handler answering, per id, the bytes the gateway answered
 *   (status, headers, body captured before the runs); no auth, no cache: the ceiling
 *   (servers/bare.ts).
 * - `fastify` / `fastifyAuth`: Fastify 5 with ioredis and pg doing the same read-through as
 *   its users write it, without and with an `onRequest` hook verifying the Bearer token with
 *   jose `jwtVerify` per request (servers/fastify.ts).
 * - `gatewayAuth`: our service as `npm start` runs it: `src/main.ts` with every role in
 *   the process (`--roles gateway,invalidator` for the split deployment's gateway) and
 *   default settings, always with a Bearer token (one token for the run; the gateway keeps
 *   verified tokens, src/auth/request.ts).
 * They share a fresh database made for the bench (`--grants` rows inserted); the gateway
 * and the Fastify servers each have a private redis-server on a free port (so the
 * `INFO commandstats` deltas of a run are that target's alone), the gateway a private
 * nats-server.
 *
 * Requests spread over `--ids` grant ids, every one warmed into the cache first (and
 * re-read before each run). Load: autocannon's programmatic API in `--procs` child
 * processes (load.ts), `--connections` keep-alive connections in all, each process walking
 * the id list from its own offset; the goals are judged on these runs. When wrk is
 * installed, every run is repeated with wrk (`--procs` threads, wrk.lua) as a cross-check:
 * on a 2-core machine the load generator shares the cores with the server, and autocannon
 * costs more CPU per request than the servers it measures. A run lasts `--seconds`, after a `--warmup-seconds` run
 * that is not counted; variants are interleaved over `--rounds` rounds (the order rotates
 * each round) and each waits (at most 20 s) for the machine to be quiet first; the report
 * keeps every run and takes the median run per variant.
 *
 * Per run: requests/s, latency p50/p90/p99 (10 µs buckets, merged over the load
 * processes), status counts, the cache hit ratio (gateway: deltas of
 * navimpact_cache_requests_total{kind="grant"} on /metrics; Fastify: its in-process count),
 * Redis commands per request from the private redis-server's INFO commandstats deltas, and
 * the CPU (cores) of the server, its redis-server, Postgres, the load processes and the
 * whole machine, so a reader can tell which side ran out.
 *
 * Usage: npm run bench:rest -- [--quick] [--seconds 10] [--warmup-seconds 2] [--rounds 3]
 *   [--connections 128] [--procs 2] [--ids 1000] [--grants 3000]
 *   [--variants bare,fastify,fastifyAuth,gatewayAuth] [--generators autocannon,wrk]
 *   [--attempts 3] [--max-minutes 20] [--out file] [--roles gateway,relay,invalidator,ingest]
 *   [--gateway-node-args "--require ./x.cjs"] (extra node flags for the gateway, for experiments)
 *   [--cpu-prof DIR] (each server writes V8 CPU profiles, one per thread, into DIR/<name>/ when it stops)
 * Prints one JSON document and writes it to bench/results/rest.json (with --quick,
 * bench/results/rest-quick.json).
 *
 * Files: options.ts (the flags, variants, goals), setup.ts (database, private servers,
 * gateway, warm-up, capture, checks) and describe.ts (the report's `setup`), children.ts
 * (every process started and how they end), runs.ts (the run loop, quiet wait and retries),
 * generators.ts (autocannon and wrk), stats.ts (cache counters, Redis commandstats),
 * http.ts (the bench's own reads), summary.ts (medians and goals); ../common/ holds what
 * the benches share (child processes, CPU meter, quiet wait, nats-server, database, output).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setChildLifetime } from '../common/processes.js';
import { reportHeader, writeReport } from '../common/report.js';
import { round } from '../common/stats.js';
import { now } from '../common/time.js';
import { LoadProc, dirs, killChildren, loads } from './children.js';
import { keepAlive } from './http.js';
import { CFG, GOALS, STARTED, args, log, quick } from './options.js';
import { runAll, type Ctx } from './runs.js';
import { setUp, type Env } from './setup.js';
import { goals, summarise } from './summary.js';

/** What set-up has made so far; every exit path (the signal handlers too) undoes it. */
const env: Env = { servers: {}, redises: [] };

async function main(): Promise<void> {
  setChildLifetime(CFG.maxMinutes * 60 + 300);
  const hardStop = setTimeout(() => {
    log('time budget exceeded: stopping everything');
    killChildren();
    process.exit(2);
  }, CFG.maxMinutes * 60_000);
  hardStop.unref();
  const report: Record<string, unknown> = {
    ...reportHeader('rest'),
    config: { ...CFG, goals: GOALS, ...(args['gateway-node-args'] ? { gatewayNodeArgs: args['gateway-node-args'] } : {}) },
  };
  const { servers } = env;
  const tmp = mkdtempSync(join(tmpdir(), 'bench-rest-'));
  dirs.push(tmp);
  try {
    const prepared = await setUp(env, tmp);
    report.setup = prepared.setup;
    report.answersCheck = prepared.answersCheck;
    const { paths, viewerToken, monitorToken } = prepared;

    for (let i = 0; i < CFG.procs; i++) LoadProc.start(i);
    await Promise.all(loads.map((l) => l.request({ cmd: 'ping' }, 60_000)));

    const pathsFile = join(tmp, 'paths.txt');
    writeFileSync(pathsFile, paths.join('\n') + '\n');
    const ctx: Ctx = { servers, paths, viewerToken, monitorToken, natsPid: env.nats!.proc.realPid(), pathsFile };
    const runs = await runAll(ctx);
    // The goals are judged on autocannon's runs (the bench's load generator); wrk's runs are
    // a cross-check with a load generator that costs far less CPU per request.
    const summaries = Object.fromEntries(CFG.generators.map((gen) => [gen, summarise(runs.filter((x) => x.generator === gen))]));
    report.summary = summaries;
    report.goals = Object.fromEntries(CFG.generators.map((gen) => [gen, goals(summaries[gen]!)]));
    report.runs = runs;
    report.seconds = round((now() - STARTED) / 1000, 0);
    // Warnings and errors of the gateway during the bench (the invalidator's reset at start is expected).
    const gwLog = servers.gateway?.proc.lines.filter((l) => /"level":"?(warn|error|fatal|40|50|60)\b/.test(l) && !l.includes('"code":"InvalidatorReset"')).slice(0, 20);
    if (gwLog?.length) report.gatewayWarnings = gwLog.map((l) => l.slice(0, 400));
  } finally {
    for (const l of loads) {
      await l.request({ cmd: 'close' }, 2_000).catch(() => undefined);
      l.kill();
    }
    // Our keep-alive connections first (a server's graceful stop may wait for them).
    keepAlive.destroy();
    // Servers first, with SIGTERM (a profile is written on the way out), then the rest;
    // whatever is still there after that is killed by pid.
    await Promise.all(Object.values(servers).map((s) => s.proc.stop().catch(() => undefined)));
    for (const r of env.redises) await r.stop().catch(() => undefined);
    await env.nats?.stop().catch(() => undefined);
    killChildren();
    const db = env.db;
    if (db) await db.drop().catch((err: unknown) => log(`could not drop ${db.name}: ${(err as Error).message}`));
    rmSync(tmp, { recursive: true, force: true });
  }
  writeReport(report, quick ? 'rest-quick' : 'rest', args.out);
  process.exit(0);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    killChildren();
    const drop = env.db ? env.db.drop() : Promise.resolve();
    void drop.catch(() => undefined).finally(() => process.exit(130));
  });

main().catch((err: unknown) => {
  process.stderr.write(`bench/rest failed: ${(err as Error).stack ?? String(err)}\n`);
  killChildren();
  process.exit(1);
});
