/**
 * One phase of the views bench: a gateway on its own pipeline, its load processes and
 * clients (all on `grants`, or spread over the saved searches), and its measured steps.
 *
 * # A step
 * Wait for a quiet machine; plan the step's changes and work out what the clients should
 * receive (before the window, so the orchestrator is idle during it); mark the load
 * processes; commit the changes at the rate; wait until every expected frame arrived (or
 * nothing came for 2 s); then read the gateway's CPU seconds, the clients' frames and bytes,
 * and the samplers' commit-to-client latencies.
 */
import { CpuMeter } from '../common/cpu-meter.js';
import { cpuSeconds, rssBytes } from '../common/procfs.js';
import { waitQuiet } from '../common/quiet.js';
import { latencyStats, round, sum } from '../common/stats.js';
import { now, sleep } from '../common/time.js';
import { connectSpread, share, snapshots, startLoads, type LoadProcess } from '../gateway/load-fleet.js';
import type { LatencyReply } from '../gateway/load-protocol.js';
import { startGateway, type Gateway, type Pipeline } from './env.js';
import { expectFrames, heldViews, type HeldView } from './expected.js';
import { CFG, JWT_SECRET, log } from './options.js';
import { GatewayProfiler } from './profile.js';
import type { StepSummary } from './summary.js';

export type PhaseName = 'grants' | 'views';

/** Drain: stop waiting once nothing more came for this long, or after the cap. */
const DRAIN_IDLE_MS = 2_000;
const DRAIN_MAX_MS = 20_000;
/** Lines of the gateway's and the relay's output kept with a step that lost frames. */
const DIAGNOSTIC_LINES = 8;
/** The machine counts as quiet below this many busy cores (as in the gateway bench). */
const QUIET = { maxWaitMs: CFG.quietWaitSeconds * 1000, busyCores: 0.35 };

export class Phase {
  readonly steps: (StepSummary & Record<string, unknown>)[] = [];
  readonly meter: CpuMeter;
  connect: Record<string, unknown> = {};
  idle: { gatewayCores: number; seconds: number } | undefined;
  /** Gateway log codes of trouble (slow consumers, errors) since the last step began. */
  private logCodes: Record<string, number> = {};
  /** Canonical topic -> clients holding it. */
  readonly holders = new Map<string, number>();
  private readonly views: HeldView[];

  private constructor(
    readonly name: PhaseName,
    readonly pipeline: Pipeline,
    readonly gateway: Gateway,
    readonly loads: LoadProcess[],
    private readonly profiler: GatewayProfiler | undefined,
    topics: readonly string[],
  ) {
    this.meter = new CpuMeter(() => ({
      gateway: gateway.pid,
      relay: pipeline.relay.realPid(),
      nats: pipeline.nats.proc.realPid(),
      bench: process.pid,
      ...Object.fromEntries(loads.map((l) => [`load${l.index}`, l.child.pid])),
    }));
    gateway.proc.onLine((line) => {
      const code = /"code":"(\w+)"/.exec(line)?.[1];
      if (code && /Slow|Closed|Error|Failed|Lost|Stall/.test(code)) this.logCodes[code] = (this.logCodes[code] ?? 0) + 1;
    });
    for (const l of loads) {
      const mine = this.topicsOf(topics, l.index);
      const count = share(CFG.clients, loads.length, l.index);
      for (let i = 0; i < count; i++) this.holders.set(mine[i % mine.length]!, (this.holders.get(mine[i % mine.length]!) ?? 0) + 1);
    }
    this.views = name === 'views' ? heldViews(this.holders) : [];
  }

  /**
   * Load process `p`'s list of topics: rotated so that the samplers (its first clients)
   * of different processes hold different saved searches.
   */
  private topicsOf(topics: readonly string[], p: number): string[] {
    const off = (p * CFG.samplersPerProc) % topics.length;
    return [...topics.slice(off), ...topics.slice(0, off)];
  }

  /** Starts the gateway and `CFG.procs` load processes from 127.0.0.<firstAddress>, and connects the clients. */
  static async open(name: PhaseName, pipeline: Pipeline, topics: readonly string[], firstAddress: number): Promise<Phase> {
    const gateway = await startGateway(pipeline, JWT_SECRET, CFG.profile ? ['--inspect=127.0.0.1:0'] : []);
    const profiler = CFG.profile ? await GatewayProfiler.attach(gateway.proc) : undefined;
    const loads = startLoads(CFG.procs, firstAddress);
    const phase = new Phase(name, pipeline, gateway, loads, profiler, topics);
    const base = { target: 'gateway', port: gateway.port, subscribe: true, samplers: CFG.samplersPerProc, concurrency: 64, client: 'raw', samplerClient: 'ws', secret: JWT_SECRET, timeoutMs: 180_000 } as const;
    const conn = await connectSpread(loads, CFG.clients, base, (l) => ({ topics: phase.topicsOf(topics, l.index) }));
    phase.connect = { ...conn, distinctTopics: phase.holders.size, sourceAddresses: loads.map((l) => l.localAddress), gatewayRssMBAfter: round(rssBytes(gateway.pid) / 2 ** 20) };
    log(`${name}: ${conn.ready} clients over ${phase.holders.size} topics subscribed in ${conn.ms} ms (${conn.failed} failed)`);
    if (conn.ready < CFG.clients) throw new Error(`${name}: only ${conn.ready} of ${CFG.clients} clients subscribed: ${JSON.stringify(conn.errors)}`);
    return phase;
  }

  /** Gateway CPU with the clients connected and nothing committed: what a window costs without events. */
  async measureIdle(seconds: number): Promise<void> {
    await waitQuiet(QUIET.maxWaitMs, QUIET.busyCores);
    const c0 = cpuSeconds(this.gateway.pid);
    const t0 = now();
    await sleep(seconds * 1000);
    const s = (now() - t0) / 1000;
    this.idle = { gatewayCores: round((cpuSeconds(this.gateway.pid) - c0) / s, 3), seconds: round(s, 1) };
    log(`${this.name}: idle gateway ${this.idle.gatewayCores} cores`);
  }

  async step(rate: number, count: number, round_: number): Promise<StepSummary> {
    const { loads, meter, gateway } = this;
    const quiet = await waitQuiet(QUIET.maxWaitMs, QUIET.busyCores);
    const planned = this.pipeline.committer.plan(count);
    const before = await snapshots(loads);
    const open = sum(before.map((s) => s.open));
    // Closes since the previous step's mark: that step's and any after it, between the steps.
    const closesSincePreviousStep: Record<string, number> = {};
    for (const s of before) for (const [k, v] of Object.entries(s.closes)) closesSincePreviousStep[k] = (closesSincePreviousStep[k] ?? 0) + v;
    const gatewayLogBefore = this.logCodes;
    this.logCodes = {};
    const views = this.name === 'views' ? expectFrames(this.views, planned) : undefined;
    const expected = views ? views.clientFrames : count * open;
    await Promise.all(loads.map((l) => l.request({ cmd: 'mark' })));
    await this.profiler?.start();
    meter.reset();
    const cpu0 = cpuSeconds(gateway.pid);
    const t0 = now();
    const run = await this.pipeline.committer.run(rate, planned);
    let frames = sum((await snapshots(loads)).map((s) => s.frames));
    let lastChange = now();
    const drainStart = now();
    while (frames < expected && now() - lastChange < DRAIN_IDLE_MS && now() - drainStart < DRAIN_MAX_MS) {
      await sleep(100);
      const f = sum((await snapshots(loads)).map((s) => s.frames));
      if (f !== frames) lastChange = now();
      frames = f;
    }
    // The window ends when the last frame arrived (not after the idle wait that proved it was the last).
    const windowEnd = frames >= expected ? now() : lastChange;
    const gatewayCpu = cpuSeconds(gateway.pid) - cpu0;
    const cpu = meter.read();
    const profile = await this.profiler?.stop(`${this.name}-${rate}-${round_}`);
    const final = await snapshots(loads);
    const lat = await Promise.all(loads.map((l) => l.request<LatencyReply>({ cmd: 'latency', commits: run.commits })));
    const stats = latencyStats(lat.flatMap((r) => r.latencies));
    const delivered = sum(final.map((s) => s.frames));
    const bytes = sum(final.map((s) => s.bytes));
    const events = run.commits.length;
    const windowSeconds = (windowEnd - t0) / 1000;
    const idleCpu = (this.idle?.gatewayCores ?? 0) * windowSeconds;
    const closes: Record<string, number> = {};
    for (const s of final) for (const [k, v] of Object.entries(s.closes)) closes[k] = (closes[k] ?? 0) + v;
    const ours = sum(Object.values(cpu.cores));
    const result = {
      phase: this.name,
      rate,
      round: round_,
      events,
      commitFailures: run.failed,
      commitsPerSec: round(events / run.seconds),
      clients: open,
      distinctTopics: this.holders.size,
      expectedFrames: expected,
      deliveredFrames: delivered,
      deliveredRatio: round(delivered / expected, 4),
      ...(views ? { viewFrames: views.viewFrames, viewsConcernedPerEvent: round(views.viewsPerEvent, 1) } : {}),
      framesPerEvent: round(delivered / events, 1),
      shareOfEventsPerClient: round(delivered / (events * open), 4),
      bytesToClients: bytes,
      bytesPerEvent: Math.round(bytes / events),
      bytesPerFrame: Math.round(bytes / Math.max(1, delivered)),
      latencyMs: stats,
      latencyUnmatched: sum(lat.map((r) => r.unmatched)),
      seqErrors: sum(lat.map((r) => r.seqErrors)),
      windowSeconds: round(windowSeconds, 2),
      drainMs: Math.round(windowEnd - drainStart),
      gateway: {
        cpuSeconds: round(gatewayCpu, 2),
        cpuMsPerEvent: round((gatewayCpu / events) * 1000, 3),
        cpuMsPerEventNetOfIdle: round((Math.max(0, gatewayCpu - idleCpu) / events) * 1000, 3),
        cores: round(gatewayCpu / windowSeconds, 2),
        rssMB: round(rssBytes(gateway.pid) / 2 ** 20),
      },
      cpuCores: {
        relay: cpu.cores.relay,
        nats: cpu.cores.nats,
        postgresAll: cpu.cores.postgres,
        loadProcesses: round(sum(Object.entries(cpu.cores).filter(([k]) => k.startsWith('load')).map(([, v]) => v)), 2),
        benchOrchestrator: cpu.cores.bench,
        machineBusy: cpu.machineBusyCores,
        others: round(Math.max(0, cpu.machineBusyCores - ours), 2),
        machineBusyBeforeStep: quiet,
        overSeconds: cpu.seconds,
      },
      loadLoopDelayP99Ms: round(Math.max(...final.map((s) => s.loopDelayP99Ms))),
      clientsOpenAfter: sum(final.map((s) => s.open)),
      closes,
      closesSincePreviousStep,
      gatewayTroubleLogs: { sincePreviousStep: gatewayLogBefore, inStep: { ...this.logCodes } },
      ...(delivered === expected ? {} : { diagnostics: this.diagnostics() }),
      ...(profile ? { profile } : {}),
    };
    this.steps.push(result);
    log(
      `${this.name} @${rate}/s round ${round_}: ${events} events, ${result.deliveredRatio} of ${expected} frames, ${result.bytesPerEvent} B/event, gateway ${result.gateway.cpuMsPerEvent} ms CPU/event (${result.gateway.cores} cores), p50 ${stats.p50} p99 ${stats.p99} ms, others ${result.cpuCores.others}`,
    );
    await sleep(1_000);
    return result;
  }

  /** The last lines the gateway and the relay wrote: what a step that lost frames shows. */
  private diagnostics() {
    const tail = (lines: string[]) => lines.slice(-DIAGNOSTIC_LINES).map((l) => l.slice(0, 300));
    return { gateway: tail(this.gateway.proc.recent), relay: tail(this.pipeline.relay.recent) };
  }

  async close(): Promise<void> {
    this.profiler?.close();
    await Promise.all(this.loads.map((l) => l.stop()));
    await this.gateway.proc.stop();
  }
}
