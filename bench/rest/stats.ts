/**
 * What a run reads from the target beside the load generator's numbers: cache hits and
 * misses (the gateway's /metrics, a Fastify server's own count) and Redis commands per
 * request from the target's private redis-server's INFO commandstats deltas.
 */
import { round } from '../common/stats.js';
import type { Server } from './children.js';
import { get } from './http.js';

/** Cache counters of the gateway (from /metrics) or a Fastify server (its own count). */
export async function cacheCounters(server: Server, monitorToken: string): Promise<{ hit: number; miss: number; error: number }> {
  if (server.name === 'gateway') {
    const text = (await get(server.port, '/metrics', { authorization: `Bearer ${monitorToken}` })).body;
    const out = { hit: 0, miss: 0, error: 0 };
    for (const m of text.matchAll(/^navimpact_cache_requests_total\{([^}]*)\}\s+(\S+)$/gm)) {
      const labels = m[1]!;
      if (!labels.includes('kind="grant"')) continue;
      // A hit of the gateway's in-process layer (local_hit) is a cache hit that needed no Redis.
      const raw = /result="([^"]+)"/.exec(labels)?.[1];
      const result = (raw === 'local_hit' ? 'hit' : raw) as keyof typeof out | undefined;
      if (result && result in out) out[result] += Number(m[2]);
    }
    return out;
  }
  const s = JSON.parse((await get(server.port, '/__bench/stats')).body) as { hits: number; misses: number };
  return { hit: s.hits, miss: s.misses, error: 0 };
}

/** Commands a client sends directly; GET/SET/TIME/... seen beside EVALSHA are the scripts' own calls. */
const SCRIPT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);
const BENCH_OWN = new Set(['info', 'client|setinfo', 'client|setname', 'select', 'hello', 'ping']);

/** Commands per request over a run, and round trips per request (a script call is one, whatever it runs). */
export function redisDelta(before: Record<string, number>, after: Record<string, number>, requests: number) {
  const perCommand: Record<string, number> = {};
  let scripts = 0;
  let plain = 0;
  let benchOwn = 0;
  for (const [cmd, calls] of Object.entries(after)) {
    const d = calls - (before[cmd] ?? 0);
    if (d <= 0) continue;
    if (BENCH_OWN.has(cmd)) {
      benchOwn += d;
      continue;
    }
    perCommand[cmd] = round(d / Math.max(1, requests), 3);
    if (SCRIPT_COMMANDS.has(cmd)) scripts += d;
    else plain += d;
  }
  // When scripts ran, the plain data commands in the window are the ones those scripts
  // called (commandstats counts them too; the gateway sends nothing but EVALSHA on this
  // path, and its idle invalidator sends nothing): they are not round trips.
  const roundTrips = scripts > 0 ? scripts : plain;
  return {
    commandsPerRequest: perCommand,
    roundTripsPerRequest: round(roundTrips / Math.max(1, requests), 3),
    insideScriptsPerRequest: scripts > 0 ? round(plain / Math.max(1, requests), 3) : 0,
    excludedBenchOwnCalls: benchOwn,
  };
}
