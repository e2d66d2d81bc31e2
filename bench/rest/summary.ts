/**
 * The report's verdict: the median run of each variant (of the undisturbed runs, when there
 * are any), and the goals of issue 4 judged on those medians, with the check of whether
 * bare uWS's ceiling was its own or the load generator's.
 */
import { round } from '../common/stats.js';
import { CFG, GOALS, VARIANTS, type VariantName } from './options.js';
import type { RunResult } from './runs.js';

/** Per variant: its median run and the numbers the README's table takes from it. */
export function summarise(runs: RunResult[]) {
  const out: Record<string, unknown> = {};
  for (const v of CFG.variants) {
    const all = runs.filter((r) => r.variant === v);
    if (!all.length) continue;
    // The median of the undisturbed runs, when there are any.
    const quiet = all.filter((r) => !r.disturbed);
    const mine = (quiet.length ? quiet : all).sort((x, y) => x.reqPerSec - y.reqPerSec);
    const median = mine[Math.floor((mine.length - 1) / 2)]!;
    out[v] = {
      description: VARIANTS[v].description,
      auth: VARIANTS[v].auth,
      runs: all.length,
      undisturbedRuns: quiet.length,
      medianOf: quiet.length ? 'undisturbed runs' : 'all runs (none undisturbed)',
      medianRun: { round: median.round, attempt: median.attempt },
      reqPerSec: median.reqPerSec,
      reqPerSecAllRuns: mine.map((r) => r.reqPerSec),
      latencyMs: { p50: median.latencyMs.p50, p90: median.latencyMs.p90, p99: median.latencyMs.p99 },
      hitRatio: (median.cache?.hitRatio as number | undefined) ?? null,
      redisRoundTripsPerRequest: median.redis?.roundTripsPerRequest ?? null,
      redisCommandsPerRequest: median.redis?.commandsPerRequest ?? null,
      non2xx: Object.entries(median.status).filter(([k]) => !k.startsWith('2')).reduce((s, [, n]) => s + n, 0),
      serverCpuUsPerRequest: median.cpuUsPerRequest.server,
      redisCpuUsPerRequest: median.cpuUsPerRequest.redisServer,
      serverCores: median.cpuCores.server,
      loadProcessesCores: median.cpuCores.loadProcesses,
      machineBusyCores: median.cpuCores.machineBusy,
      othersCores: median.cpuCores.others,
    };
  }
  return out;
}

/** The goals (gateway >= 60% of the bare ceiling, >= 2x Fastify with auth) and the CPU cost per request beside them. */
export function goals(summary: Record<string, unknown>) {
  const rps = (v: VariantName) => (summary[v] as { reqPerSec: number } | undefined)?.reqPerSec;
  const gw = rps('gatewayAuth');
  const bare = rps('bare');
  const fa = rps('fastifyAuth');
  const f = rps('fastify');
  const out: Record<string, unknown> = {};
  if (gw !== undefined && bare !== undefined) {
    const ratio = round(gw / bare, 3);
    out.gatewayAtLeast60PctOfCeiling = { gatewayAuthReqPerSec: gw, bareReqPerSec: bare, ratio, goal: GOALS.ofCeiling, met: ratio >= GOALS.ofCeiling };
  }
  if (gw !== undefined && fa !== undefined) {
    const ratio = round(gw / fa, 3);
    out.gatewayAtLeast2xFastifyWithAuth = { gatewayAuthReqPerSec: gw, fastifyAuthReqPerSec: fa, ratio, goal: GOALS.timesFastifyAuth, met: ratio >= GOALS.timesFastifyAuth };
  }
  if (gw !== undefined && f !== undefined) out.informative = { gatewayAuthOverFastifyNoAuth: round(gw / f, 3), fastifyAuthOverFastify: fa !== undefined ? round(fa / f, 3) : null };
  // Whether the ceiling is the server's: on this machine the load generator shares the two
  // cores with the server, so bare uWS may run out of load before it runs out of CPU.
  type S = { serverCores: number; loadProcessesCores: number[]; serverCpuUsPerRequest: number; machineBusyCores: number };
  const b = summary.bare as S | undefined;
  if (b) {
    const load = round(b.loadProcessesCores.reduce((x, y) => x + y, 0), 2);
    out.ceilingCheck = {
      bareServerCores: b.serverCores,
      loadGeneratorCores: load,
      machineBusyCores: b.machineBusyCores,
      bareServerSaturated: b.serverCores >= 0.9,
      note:
        b.serverCores >= 0.9
          ? 'bare uWS used a whole core: the ceiling is the server'
          : `bare uWS used ${b.serverCores} of a core while the load generator used ${load} cores: the ceiling is bounded by the load generator on this machine (a true uWS ceiling is higher, so the ratio to it is an upper bound)`,
    };
  }
  // CPU per request of each server, whoever limited its rate: the cost side of the same goals.
  const us = (v: VariantName) => (summary[v] as S | undefined)?.serverCpuUsPerRequest;
  const [ug, ub, ufa, uf] = [us('gatewayAuth'), us('bare'), us('fastifyAuth'), us('fastify')];
  if (ug !== undefined)
    out.serverCpuPerRequest = {
      us: { gatewayAuth: ug, bare: ub ?? null, fastifyAuth: ufa ?? null, fastify: uf ?? null },
      gatewayCostShareOfCeiling: ub !== undefined ? round(ub / ug, 3) : null,
      fastifyAuthCostOverGateway: ufa !== undefined ? round(ufa / ug, 3) : null,
      fastifyCostOverGateway: uf !== undefined ? round(uf / ug, 3) : null,
    };
  return out;
}
