/**
 * Phase 1, fan-out: N clients per target subscribed to `grants`, single-row UPDATEs
 * committed at rising steady rates, and per step the frames delivered, commit-to-client
 * latency and every process's CPU. A ladder stops after the first step past saturation.
 */
import { CpuMeter } from '../common/cpu-meter.js';
import { rssBytes } from '../common/procfs.js';
import { waitQuiet } from '../common/quiet.js';
import { latencyStats, round, sum } from '../common/stats.js';
import { now, sleep } from '../common/time.js';
import { startServer, type Env, type Server } from './env.js';
import { connectClients, snapshots, startLoads, type LoadProcess } from './load-process.js';
import type { LatencyReply } from './load-protocol.js';
import { CFG, SATURATED, SUSTAINED, cpuProfArgs, deadline, log } from './options.js';
import type { Target } from './wire.js';

/** One server under the fan-out ladder, with its own pipeline and load processes. */
interface Contender {
  target: Target;
  env: Env;
  server: Server;
  loads: LoadProcess[];
  meter: CpuMeter;
  result: Record<string, unknown>;
  steps: Record<string, unknown>[];
  active: boolean;
}

/**
 * Runs the ladder against every target, interleaved: at each rate, one step per target
 * that has not saturated yet. Each target has its own database, relay and nats-server
 * (so the idle servers receive nothing while another is measured) and its own clients,
 * all connected for the whole ladder. Interleaving puts the three servers' steps of one
 * rate within a minute of each other, so a burst of load from elsewhere on the machine
 * does not fall on one server's whole ladder.
 */
export async function fanoutAll(envs: Record<string, Env>, targets: Target[]) {
  const contenders: Contender[] = [];
  const out: Record<string, Record<string, unknown>> = {};
  try {
    for (const [k, target] of targets.entries()) {
      const env = envs[target]!;
      log(`fan-out ${target}: starting server and ${CFG.procs} load processes`);
      const server = await startServer(env, target, cpuProfArgs(`fanout-${target}`));
      const loads = startLoads(CFG.procs, 2 + k * CFG.procs);
      const meter = new CpuMeter(() => ({
        server: server.pid,
        relay: env.relay?.realPid(),
        nats: env.nats.proc.realPid(),
        bench: process.pid,
        ...Object.fromEntries(loads.map((l) => [`load${l.index}`, l.child.pid])),
      }));
      const c: Contender = { target, env, server, loads, meter, result: {}, steps: [], active: true };
      contenders.push(c);
      out[target] = c.result;
      const conn = await connectClients(loads, target, server.port, CFG.clients, true, CFG.samplersPerProc);
      c.result.connect = { ...conn, sourceAddresses: loads.map((l) => l.localAddress), serverRssMBAfter: round(rssBytes(server.pid) / 2 ** 20) };
      log(`fan-out ${target}: ${conn.ready} clients subscribed in ${conn.ms} ms (${conn.failed} failed)`);
      if (conn.ready < 0.95 * CFG.clients) {
        c.active = false;
        c.result.stoppedBecause = `only ${conn.ready} of ${CFG.clients} clients connected: ${JSON.stringify(conn.errors)}`;
      }
    }
    await sleep(2_000);
    for (const rate of CFG.rates) {
      for (const c of contenders) {
        if (!c.active) continue;
        if (now() > deadline - 90_000) {
          c.active = false;
          c.result.stoppedBecause = 'time budget';
          continue;
        }
        let why = await step(c, rate);
        if (why) {
          // Other sessions' tests share this machine and come in bursts: a failed step is
          // run once more before the ladder stops; both attempts are in the report.
          log(`fan-out ${c.target} @${rate}/s failed (${why}); running it once more`);
          why = await step(c, rate, 2);
        }
        if (why) {
          c.active = false;
          c.result.stoppedBecause = `saturated at ${rate}/s: ${why}`;
          // A saturated server may still be working off a backlog: stop it now, so it
          // takes no CPU from the other servers' steps.
          await Promise.all(c.loads.map((l) => l.stop()));
          await c.server.proc.stop();
        }
      }
    }
    for (const c of contenders) {
      c.result.stoppedBecause ??= 'all rates run';
      c.result.steps = c.steps;
      // The last attempt at each rate is the one the ladder went on from.
      const last = c.steps.filter((s, i) => c.steps[i + 1]?.rate !== s.rate);
      const sustained = [...last].reverse().find((s) => s.sustained);
      c.result.highestSustained = sustained
        ? { rate: sustained.rate, deliveredPerSec: sustained.deliveredPerSecInWindow, p99Ms: (sustained.latencyMs as { p99: number }).p99 }
        : null;
      c.result.peakDeliveredPerSec = Math.max(0, ...c.steps.map((s) => s.deliveredPerSecInWindow as number));
    }
  } finally {
    for (const c of contenders) {
      await Promise.all(c.loads.map((l) => l.stop()));
      await c.server.proc.stop();
    }
  }
  return out;
}

/** One step of the ladder: commits at `rate` for a step, then drain. Returns why it saturated, if it did. */
async function step(c: Contender, rate: number, attempt = 1): Promise<string | undefined> {
  const { loads, meter, env, target, server } = c;
  const quiet = await waitQuiet(5_000, 0.35);
  await Promise.all(loads.map((l) => l.request({ cmd: 'mark' })));
  const open = sum((await snapshots(loads)).map((s) => s.open));
  meter.reset();
  const run = await env.committer.run(rate, CFG.stepSeconds);
  const atEnd = await snapshots(loads);
  const windowSeconds = run.seconds;
  const expected = run.commits.length * open;
  // Drain: until every expected frame arrived, or nothing more came for 2 s (at most 15 s).
  const drainStart = now();
  let last = sum(atEnd.map((s) => s.frames));
  let lastChange = now();
  while (last < expected && now() - lastChange < 2_000 && now() - drainStart < 15_000) {
    await sleep(200);
    const frames = sum((await snapshots(loads)).map((s) => s.frames));
    if (frames !== last) lastChange = now();
    last = frames;
  }
  const drainMs = last >= expected ? now() - drainStart : lastChange - drainStart;
  const final = await snapshots(loads);
  const cpu = meter.read();
  const lat = await Promise.all(loads.map((l) => l.request<LatencyReply>({ cmd: 'latency', commits: run.commits })));
  const delivered = sum(final.map((s) => s.frames));
  const closes: Record<string, number> = {};
  for (const s of final) for (const [k, v] of Object.entries(s.closes)) closes[k] = (closes[k] ?? 0) + v;
  const loadCores = Object.entries(cpu.cores).filter(([k]) => k.startsWith('load')).map(([, v]) => v);
  const ours = sum(Object.values(cpu.cores));
  const stats = latencyStats(lat.flatMap((r) => r.latencies));
  const ratio = expected ? delivered / expected : NaN;
  const result = {
    rate,
    attempt,
    commits: run.commits.length,
    commitsPerSec: round(run.commits.length / windowSeconds),
    clients: open,
    expectedFrames: expected,
    deliveredFrames: delivered,
    deliveredRatio: round(ratio, 4),
    deliveredPerSecInWindow: Math.round(sum(atEnd.map((s) => s.frames)) / windowSeconds),
    offeredPerSec: Math.round(expected / windowSeconds),
    drainMs: Math.round(drainMs),
    perClientMinRatio: round(Math.min(...final.map((s) => s.perClientMin)) / Math.max(1, run.commits.length), 4),
    latencyMs: stats,
    latencyUnmatched: sum(lat.map((r) => r.unmatched)),
    seqErrors: sum(lat.map((r) => r.seqErrors)),
    clientsOpenAfter: sum(final.map((s) => s.open)),
    closes,
    cpuCores: {
      server: cpu.cores.server,
      relay: cpu.cores.relay,
      nats: cpu.cores.nats,
      postgresAll: cpu.cores.postgres,
      loadProcesses: round(sum(loadCores), 2),
      loadProcessMax: Math.max(...loadCores),
      benchOrchestrator: cpu.cores.bench,
      machineBusy: cpu.machineBusyCores,
      machineSoftirq: cpu.machineSoftirqCores,
      others: round(Math.max(0, cpu.machineBusyCores - ours), 2),
      machineBusyBeforeStep: quiet,
      overSeconds: cpu.seconds,
    },
    loadLoopDelayP99Ms: round(Math.max(...final.map((s) => s.loopDelayP99Ms))),
    loadRssMBMax: round(Math.max(...final.map((s) => s.rssBytes)) / 2 ** 20),
    serverRssMB: round(rssBytes(server.pid) / 2 ** 20),
    sustained: stats.p99 < SUSTAINED.p99Ms && ratio >= SUSTAINED.delivered,
  };
  c.steps.push(result);
  log(
    `fan-out ${target} @${rate}/s: ${result.commitsPerSec} commits/s, ${result.deliveredPerSecInWindow} msg/s in window, ${result.deliveredRatio} delivered, p50 ${stats.p50} p99 ${stats.p99} ms; cores server ${cpu.cores.server} load ${result.cpuCores.loadProcesses} machine ${cpu.machineBusyCores} others ${result.cpuCores.others}`,
  );
  const saturated: string[] = [];
  if (!(stats.p99 <= SATURATED.p99Ms)) saturated.push(`p99 ${stats.p99} ms > ${SATURATED.p99Ms}`);
  if (!(ratio >= SATURATED.delivered)) saturated.push(`delivered ${result.deliveredRatio} < ${SATURATED.delivered}`);
  if (run.commits.length < SATURATED.commitShare * rate * CFG.stepSeconds) saturated.push(`committed ${result.commitsPerSec}/s of ${rate}/s asked`);
  if (result.clientsOpenAfter < 0.95 * open) saturated.push(`${open - result.clientsOpenAfter} clients lost`);
  await sleep(1_000);
  return saturated.length ? saturated.join('; ') : undefined;
}
