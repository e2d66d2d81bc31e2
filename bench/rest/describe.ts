/**
 * The report's `setup`: what the bench ran, in words and versions, so a reader of the JSON
 * knows the method without the code.
 */
import { execFileSync } from 'node:child_process';
import { ROOT } from '../common/processes.js';
import { CFG } from './options.js';

/** A captured gateway answer, as the bare server replays it. */
export interface CapturedAnswer {
  status: string;
  headers: [string, string][];
  body: string;
}

/** The `setup` section, from the number of ids, one captured answer and the gateway's warm-up counts. */
export function describeSetup(idsRequested: number, sample: CapturedAnswer, gatewayWarmUp: Record<string, unknown>) {
  return {
    grants: CFG.grants,
    idsRequested,
    sampleAnswer: { status: sample.status, headersBesideAutomatic: sample.headers, bodyBytes: Buffer.byteLength(sample.body) },
    gatewayWarmUp,
    gateway: `src/main.ts ROLES=${CFG.roles} APP_ENV=production LOG_LEVEL=info REST_RATE_LIMIT=1000000, every other setting its default (DATABASE_POOL_SIZE 10, CACHE_TTL 5m), private redis-server and nats-server`,
    fastify: `Fastify ${fastifyVersion()} logger off, one ioredis client (defaults), pg.Pool max ${CFG.poolSize}, SET EX ${CFG.cacheTtlSeconds}; fastify and fastifyAuth are two processes sharing one private redis-server`,
    loadGenerator: {
      autocannon: `autocannon ${autocannonVersion()} programmatic API in ${CFG.procs} child processes, ${CFG.connections} keep-alive connections in all, no pipelining, a request list of ${idsRequested} ids per process (rotated per process); the goals are judged on these runs`,
      ...(CFG.generators.includes('wrk')
        ? { wrk: `wrk ${wrkVersion()} (C, epoll), ${CFG.procs} threads, ${CFG.connections} connections, bench/rest/wrk.lua walking the same ${idsRequested} paths from a per-thread offset: a cross-check with a generator that costs far less CPU per request` }
        : {}),
    },
    token: 'HS256 JWT (sub, exp) with the gateway secret; one token for all requests of a run',
    cacheTtlSeconds: CFG.cacheTtlSeconds,
    redisRoundTrips:
      'INFO commandstats call deltas of the target\'s private redis-server over the run, divided by requests; commands run inside Lua scripts (counted by commandstats too) are listed but not counted as round trips',
  };
}

function wrkVersion(): string {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'pipe' });
  } catch (err) {
    return /wrk (\S+)/.exec(String((err as { stdout?: Buffer }).stdout ?? ''))?.[1] ?? '?';
  }
  return '?';
}

function fastifyVersion(): string {
  return (JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("fastify/package.json").version)'], { cwd: ROOT }).toString()) as string) ?? '?';
}

function autocannonVersion(): string {
  return (JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("autocannon/package.json").version)'], { cwd: ROOT }).toString()) as string) ?? '?';
}
