/**
 * bench/gateway: the live gateway against what it is measured by (issue 3, "Benchmarks").
 *
 * 1. Fan-out: N clients subscribed to `grants`; single-row UPDATEs committed in Postgres at
 *    rising steady rates; the relay carries them to stream GRANTS; each server fans them
 *    out. For each rate: delivered messages/s, the share of expected frames delivered, and
 *    commit-to-client latency p50/p99 (from sampling clients). Against (a) the gateway
 *    (`src/main.ts`, ROLES=gateway, with a separate ROLES=relay process; with
 *    `--gateway-roles gateway,relay,invalidator,ingest` every role in its process), (b) a bare
 *    uWebSockets.js server publishing the same frames once per tick (the ceiling,
 *    servers/bare.ts) and (c) Socket.IO 4 with default settings (servers/socketio.ts).
 * 2. Memory per idle authenticated connection: server RSS before and after M connections.
 * 3. Authenticated handshakes per second: connect, welcome, close, in loops, bounded time.
 *
 * The load generator is several child processes (load.ts), each on its own source address
 * 127.0.0.<2+i>; per step the report gives their CPU and event-loop delay beside the
 * server's, so a reader can tell which side ran out. The counting clients are raw frame
 * walkers (wire.ts), the latency samplers `ws` clients; `--client ws` makes every client
 * a `ws` client. Other work on the machine (other sessions' tests share it) is reported
 * per step as `others`, and each step waits up to 10 s for the machine to be quiet.
 *
 * Usage: npm run bench:gateway -- [--quick] [--clients 10000] [--procs 5]
 *   [--rates 5,10,20,50,100,200,500,1000] [--step-seconds 10] [--targets gateway,bare,socketio]
 *   [--only fanout,memory,handshakes|alloc] [--client raw|ws] [--sampler-client ws|raw]
 *   [--memory-connections 15000] [--memory-subscribed] [--max-minutes 40]
 *   [--gateway-roles gateway|gateway,relay,invalidator,ingest] [--cpu-prof DIR] (the fan-out servers and the relays write V8 CPU profiles into DIR/<name>/ when they stop)
 * Prints one JSON document and writes it to bench/results/gateway.json (with --quick,
 * bench/results/gateway-quick.json).
 *
 * Files: options.ts (the flags), env.ts (pipelines and servers), fanout.ts, memory.ts and
 * handshakes.ts (the three phases), alloc.ts (a fourth, only when named: allocation per
 * connection by the sampling heap profiler), report.ts (set-up and goals); load-process.ts drives
 * the load processes (load.ts, load-client.ts, load-protocol.ts); ../common/ holds what
 * the benches share (child processes, CPU meter, quiet wait, nats-server, database, output).
 */
import { runBench, stopAll, setChildLifetime } from '../common/processes.js';
import { reportHeader, writeReport } from '../common/report.js';
import { round } from '../common/stats.js';
import { now } from '../common/time.js';
import { frameBytes, setUp, type Env } from './env.js';
import { alloc } from './alloc.js';
import { fanoutAll } from './fanout.js';
import { handshakes } from './handshakes.js';
import { memory } from './memory.js';
import { CFG, STARTED, args, log, quick } from './options.js';
import { goals, setupReport } from './report.js';
import type { Target } from './wire.js';

async function main(): Promise<void> {
  setChildLifetime(CFG.maxMinutes * 60 + 300);
  const hardStop = setTimeout(() => {
    log('time budget exceeded: stopping everything');
    stopAll();
    process.exit(2);
  }, CFG.maxMinutes * 60_000 + 120_000);
  hardStop.unref();
  const report: Record<string, unknown> = {
    ...reportHeader('gateway'),
    config: { ...CFG, only: [...CFG.only] },
  };
  const envs: Record<string, Env> = {};
  try {
    // One pipeline (database, relay, nats-server) per fan-out target; memory, alloc and
    // handshakes use the first.
    const needFanout = CFG.only.has('fanout');
    for (const t of needFanout ? CFG.targets : CFG.targets.slice(0, 1)) envs[t] = await setUp(t);
    const first = envs[CFG.targets[0]!]!;
    // Read from a pipeline with a relay process (a gateway running the relay role has not started yet).
    const withRelay = Object.values(envs).find((e) => e.relay);
    const frame = withRelay ? await frameBytes(withRelay) : NaN;
    report.setup = setupReport(frame);
    log(`set up: frame ${frame} bytes; ${CFG.clients} clients over ${CFG.procs} load processes`);
    const results: Record<string, Record<string, Record<string, unknown>>> = {};
    if (needFanout) {
      try {
        results.fanout = await fanoutAll(envs, CFG.targets);
      } catch (err) {
        results.fanout = { error: { message: (err as Error).message } };
        log(`fan-out failed: ${(err as Error).stack}`);
      }
    }
    // A phase run on each target in turn, on the first pipeline; a target that fails is recorded, not fatal.
    const perTarget = async (phase: string, run: (env: Env, target: Target) => Promise<Record<string, unknown>>) => {
      const out: Record<string, Record<string, unknown>> = {};
      for (const t of CFG.targets) {
        try {
          out[t] = await run(first, t);
        } catch (err) {
          out[t] = { error: (err as Error).message };
          log(`${phase} ${t} failed: ${(err as Error).stack}`);
        }
      }
      return out;
    };
    if (CFG.only.has('memory')) results.memory = await perTarget('memory', memory);
    if (CFG.only.has('alloc')) results.alloc = await perTarget('alloc', alloc);
    if (CFG.only.has('handshakes')) results.handshakes = await perTarget('handshakes', handshakes);
    Object.assign(report, results);
    report.goals = goals(results);
    report.seconds = round((now() - STARTED) / 1000, 0);
  } finally {
    for (const e of Object.values(envs)) {
      await e.committer.end().catch(() => undefined);
      await e.relay?.stop().catch(() => undefined);
      await e.redis?.stop().catch(() => undefined);
      await e.nats.stop().catch(() => undefined);
      await e.db.drop().catch((err: unknown) => log(`could not drop ${e.db.name}: ${(err as Error).message}`));
    }
    stopAll();
  }
  writeReport(report, quick ? 'gateway-quick' : 'gateway', args.out);
  process.exit(0);
}

runBench('gateway', main);
