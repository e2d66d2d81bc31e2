/**
 * The measured runs: each variant with each load generator, interleaved over `--rounds`
 * rounds (the order rotates each round). A run waits for a quiet machine, re-reads every
 * id, warms up, then measures the load, the target's counters and every process's CPU; a
 * run that other work on the machine disturbed is run again (up to `--attempts` times).
 */
import { loadavg } from 'node:os';
import { CpuMeter } from '../common/cpu-meter.js';
import { waitQuiet } from '../common/quiet.js';
import { round } from '../common/stats.js';
import { sleep } from '../common/time.js';
import { loads, type Server } from './children.js';
import { viaAutocannon, viaWrk } from './generators.js';
import { getAll } from './http.js';
import { CFG, DISTURBED_CORES, VARIANTS, log, type LoadGenerator, type VariantName } from './options.js';
import { cacheCounters, redisDelta } from './stats.js';

export interface Ctx {
  servers: Record<string, Server>;
  paths: string[];
  viewerToken: string;
  monitorToken: string;
  natsPid: number;
  /** The paths, one a line, for wrk.lua. */
  pathsFile: string;
}

/** The server a variant is run against (the two Fastify variants are two processes). */
function serverOf(ctx: Ctx, v: VariantName): Server {
  const { target, auth } = VARIANTS[v];
  return ctx.servers[target === 'fastify' ? (auth ? 'fastifyAuth' : 'fastify') : target]!;
}

/** One run of `v` with `generator`: warm-up, then the measured window and its readings. */
async function measure(ctx: Ctx, v: VariantName, round_: number, generator: LoadGenerator) {
  const server = serverOf(ctx, v);
  const headers: Record<string, string> = VARIANTS[v].auth ? { authorization: `Bearer ${ctx.viewerToken}` } : {};
  const generate = (seconds: number) => (generator === 'wrk' ? viaWrk(server.port, ctx.pathsFile, headers, seconds) : viaAutocannon(server.port, ctx.paths, headers, seconds));
  const quietBefore = await waitQuiet(20_000, 0.3);
  // Every id read once more, so a run starts with the whole set in the cache.
  await getAll(server.port, ctx.paths, headers);
  await generate(CFG.warmupSeconds);
  await sleep(300);
  const loadavgAtStart = loadavg().map((x) => round(x, 2));
  const c0 = server.redis ? await cacheCounters(server, ctx.monitorToken) : undefined;
  const r0 = server.redis ? await server.redis.commandStats() : undefined;
  const meter = new CpuMeter(() => ({
    server: server.pid,
    redis: server.redis?.proc.realPid(),
    nats: ctx.natsPid,
    bench: process.pid,
    ...(generator === 'autocannon' ? Object.fromEntries(loads.map((l) => [`load${l.index}`, l.child.pid])) : {}),
  }));
  const g = await generate(CFG.seconds);
  const cpu = meter.read();
  const c1 = server.redis ? await cacheCounters(server, ctx.monitorToken) : undefined;
  const r1 = server.redis ? await server.redis.commandStats() : undefined;

  const { requests, seconds, status, loadCores } = g;
  // wrk is not in the meter (it starts after it): its own CPU is added.
  const wrkCores = generator === 'wrk' ? loadCores.reduce((s2, x) => s2 + x, 0) : 0;
  // Postgres backends that exit during a run make its reading negative: counted as 0.
  const postgres = Math.max(0, cpu.cores.postgres ?? 0);
  const ours = wrkCores + Object.entries(cpu.cores).reduce((s, [k, x]) => s + (k === 'postgres' ? postgres : Number.isFinite(x) ? x : 0), 0);
  const others = round(Math.max(0, cpu.machineBusyCores - ours), 2);
  const perRequestUs = (cores: number | undefined) => round(((cores ?? 0) * cpu.seconds * 1e6) / Math.max(1, requests), 1);
  let cache: Record<string, unknown> | undefined;
  if (c0 && c1) {
    const hit = c1.hit - c0.hit;
    const miss = c1.miss - c0.miss;
    const error = c1.error - c0.error;
    cache = { hits: hit, misses: miss, errors: error, hitRatio: round(hit / Math.max(1, hit + miss + error), 4), lookupsPerRequest: round((hit + miss + error) / Math.max(1, requests), 3) };
  }
  const result = {
    variant: v,
    generator,
    round: round_,
    seconds: round(seconds, 2),
    connections: CFG.connections,
    requests,
    reqPerSec: Math.round(requests / seconds),
    latencyMs: g.latencyMs,
    status,
    errors: g.errors,
    timeouts: g.timeouts,
    bytesPerResponse: Math.round(g.bytes / Math.max(1, requests)),
    cache: cache ?? null,
    redis: r0 && r1 ? redisDelta(r0, r1, requests) : null,
    /** CPU time per answered request: what each request costs the server, whoever limited the rate. */
    cpuUsPerRequest: { server: perRequestUs(cpu.cores.server), redisServer: perRequestUs(cpu.cores.redis), loadGenerator: perRequestUs(loadCores.reduce((s, x) => s + x, 0)) },
    cpuCores: {
      server: cpu.cores.server,
      redisServer: cpu.cores.redis ?? 0,
      natsServer: cpu.cores.nats,
      postgresAll: round(postgres, 2),
      loadProcesses: loadCores,
      loadProcessesTotal: round(loadCores.reduce((s, x) => s + x, 0), 2),
      benchOrchestrator: cpu.cores.bench,
      machineBusy: cpu.machineBusyCores,
      machineSoftirq: cpu.machineSoftirqCores,
      others,
      machineBusyShareBeforeRun: quietBefore,
    },
    /** Other work on the machine (other sessions' tests) took more than DISTURBED cores during the run. */
    disturbed: others > DISTURBED_CORES,
    loadavgAtStart,
    ...g.extra,
  };
  log(
    `${v} (${generator}) round ${round_}: ${result.reqPerSec} req/s, p50 ${result.latencyMs.p50} p99 ${result.latencyMs.p99} ms, status ${JSON.stringify(status)}, hit ${(cache?.hitRatio as number | undefined) ?? '-'}, redis rt/req ${result.redis?.roundTripsPerRequest ?? '-'}; cores server ${cpu.cores.server} redis ${cpu.cores.redis ?? 0} load ${loadCores.join('+')} machine ${cpu.machineBusyCores} others ${result.cpuCores.others}`,
  );
  return result;
}

export type RunResult = Awaited<ReturnType<typeof measure>> & { attempt: number };

/** Every round, generator and variant, each run again while disturbed (up to `--attempts`). */
export async function runAll(ctx: Ctx): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  for (let r = 1; r <= CFG.rounds; r++) {
    const order = CFG.variants.map((_, i) => CFG.variants[(i + r - 1) % CFG.variants.length]!);
    for (const [generator, v] of CFG.generators.flatMap((gen) => order.map((v) => [gen, v] as const))) {
      for (let attempt = 1; attempt <= CFG.attempts; attempt++) {
        const run = { ...(await measure(ctx, v, r, generator)), attempt };
        runs.push(run);
        if (!run.disturbed) break;
        if (attempt < CFG.attempts) log(`${v} (${generator}) round ${r}: disturbed (others ${run.cpuCores.others} cores); running it again`);
      }
    }
  }
  return runs;
}
