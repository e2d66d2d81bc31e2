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
 * - `gatewayAuth`: our service, `src/main.ts` with ROLES=gateway,invalidator (what
 *   `npm start` runs), always with a Bearer token (one token for the run; the gateway keeps
 *   verified tokens, src/rest/auth.ts).
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
 *   [--attempts 3] [--max-minutes 20] [--out file]
 *   [--gateway-node-args "--require ./x.cjs"] (extra node flags for the gateway, for experiments)
 *   [--cpu-prof DIR] (each server writes V8 CPU profiles, one per thread, into DIR/<name>/ when it stops)
 * Prints one JSON document and writes it to bench/results/rest.json (with --quick,
 * bench/results/rest-quick.json).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import { CpuMeter, PrivateNats, ROOT, freePort, now, round, setChildLifetime, sleep, sql, startProc, startTs, stopAll, waitQuiet, type Proc } from '../gateway/infra.js';
import { BUCKET_US, type Command, type RunCommand, type RunReply } from './load.js';

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    'warmup-seconds': { type: 'string' },
    rounds: { type: 'string' },
    attempts: { type: 'string', default: '3' },
    connections: { type: 'string', default: '128' },
    procs: { type: 'string', default: '2' },
    ids: { type: 'string', default: '1000' },
    grants: { type: 'string', default: '3000' },
    'description-chars': { type: 'string', default: '400' },
    variants: { type: 'string', default: 'bare,fastify,fastifyAuth,gatewayAuth' },
    generators: { type: 'string' },
    'max-minutes': { type: 'string', default: '20' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
    out: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'gateway-node-args': { type: 'string' },
  },
});

const quick = a.quick!;
const num = (v: string | undefined, full: number, small: number) => Number(v ?? (quick ? small : full));
const CFG = {
  seconds: num(a.seconds, 10, 3),
  warmupSeconds: num(a['warmup-seconds'], 2, 1),
  rounds: num(a.rounds, 3, 1),
  attempts: Number(a.attempts),
  connections: Number(a.connections),
  procs: Number(a.procs),
  ids: Number(a.ids),
  grants: Math.max(Number(a.grants), Number(a.ids)),
  descriptionChars: Number(a['description-chars']),
  variants: a.variants!.split(',') as VariantName[],
  /** autocannon always; wrk too when it is installed (a C load generator, far cheaper per request). */
  generators: (a.generators ?? (hasWrk() ? 'autocannon,wrk' : 'autocannon')).split(',') as LoadGenerator[],
  maxMinutes: Number(a['max-minutes']),
  /** Pool size of the gateway (its default) and of each Fastify server. */
  poolSize: 10,
  cacheTtlSeconds: 3_600,
};
const GOALS = { ofCeiling: 0.6, timesFastifyAuth: 2 };
/** A run during which other processes used more than this many cores is run again (up to `--attempts` times). */
const DISTURBED_CORES = 0.25;
const JWT_SECRET = randomBytes(32).toString('base64url');
const STARTED = now();
const HERE = fileURLToPath(new URL('.', import.meta.url));
const log = (message: string) => process.stderr.write(`[bench:rest ${round((now() - STARTED) / 1000, 0)}s] ${message}\n`);

type Target = 'bare' | 'fastify' | 'gateway';
type LoadGenerator = 'autocannon' | 'wrk';
type VariantName = 'bare' | 'fastify' | 'fastifyAuth' | 'gatewayAuth';
const VARIANTS: Record<VariantName, { target: Target; auth: boolean; description: string }> = {
  bare: { target: 'bare', auth: false, description: 'bare uWebSockets.js handler returning the captured gateway answer per id; no auth, no cache (the ceiling)' },
  fastify: { target: 'fastify', auth: false, description: 'Fastify 5 + ioredis GET (+ pg and SET with TTL on a miss); no auth' },
  fastifyAuth: { target: 'fastify', auth: true, description: 'as fastify, plus an onRequest hook verifying the Bearer token with jose jwtVerify on every request' },
  gatewayAuth: { target: 'gateway', auth: true, description: 'npm start with ROLES=gateway,invalidator; Bearer token required (verified tokens are remembered by the gateway)' },
};

// --- child processes -----------------------------------------------------------------------

const loads: LoadProc[] = [];
/**
 * Every server, redis-server and nats-server started, and the directories they use. Each
 * runs under `timeout`, and a SIGKILL to `timeout` cannot reach its child: every exit path
 * ends the children themselves, by pid, before `stopAll` ends the wrappers.
 */
const children: Proc[] = [];
const dirs: string[] = [];

function killChildren(): void {
  for (const l of loads) l.kill();
  for (const proc of children) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    const pid = proc.realPid();
    try {
      if (pid !== proc.child.pid) process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

class LoadProc {
  private queue: ((m: unknown) => void)[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m) => this.queue.shift()?.(m));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(index: number): LoadProc {
    const child = fork(join(HERE, 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p = new LoadProc(index, child);
    loads.push(p);
    return p;
  }

  request<T>(command: Command, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load ${this.index}: no answer to ${command.cmd} in ${timeoutMs} ms`)), timeoutMs);
      this.queue.push((m) => {
        clearTimeout(timer);
        const err = (m as { error?: string }).error;
        if (err) reject(new Error(`load ${this.index}: ${err}`));
        else resolve(m as T);
      });
      this.child.send(command);
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

class PrivateRedis {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(name: string): Promise<PrivateRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'bench-rest-redis-'));
    const proc = startProc(name, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {});
    children.push(proc);
    dirs.push(dir);
    await proc.waitFor((l) => l.includes('Ready to accept connections'), 20_000);
    return new PrivateRedis(proc, port, dir);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Calls per command so far (INFO commandstats), and the redis-server's CPU. */
  async commandStats(): Promise<Record<string, number>> {
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    try {
      const text = await r.info('commandstats');
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
      return out;
    } finally {
      r.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.proc.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Server {
  name: string;
  proc: Proc;
  port: number;
  pid: number;
  redis?: PrivateRedis;
}

async function startServer(name: string, script: string, env: Record<string, string>, ready = 'BenchListening'): Promise<Server> {
  // --cpu-prof: each server writes V8 CPU profiles (one per thread: tsx's loader has one) when it exits (stopped with SIGTERM).
  const nodeArgs = a['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(a['cpu-prof'], name)}`] : [];
  if (name === 'gateway' && a['gateway-node-args']) nodeArgs.push(...a['gateway-node-args'].split(' ').filter(Boolean));
  const proc = startTs(name, script, env, nodeArgs);
  children.push(proc);
  const line = await proc.waitFor((l) => l.includes(`"code":"${ready}"`), 60_000);
  return { name, proc, port: (JSON.parse(line) as { port: number }).port, pid: proc.realPid() };
}

// --- HTTP helpers --------------------------------------------------------------------------

interface RawAnswer {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.end();
  });
}
const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });

/** GETs every path (16 at a time); returns the answers in order. */
async function getAll(port: number, paths: string[], headers: Record<string, string>): Promise<RawAnswer[]> {
  const out: RawAnswer[] = new Array<RawAnswer>(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < paths.length) {
        const i = next++;
        out[i] = await get(port, paths[i]!, headers);
      }
    }),
  );
  return out;
}

function statusCounts(answers: RawAnswer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of answers) out[x.status] = (out[x.status] ?? 0) + 1;
  return out;
}

/** Headers a server writes by itself (uWS and Node both), left out of a captured answer. */
const AUTOMATIC = new Set(['date', 'content-length', 'uwebsockets', 'connection', 'keep-alive', 'transfer-encoding']);

// --- measurements --------------------------------------------------------------------------

/** Cache counters of the gateway (from /metrics) or a Fastify server (its own count). */
async function cacheCounters(server: Server, monitorToken: string): Promise<{ hit: number; miss: number; error: number }> {
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

function redisDelta(before: Record<string, number>, after: Record<string, number>, requests: number) {
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

function mergeHistograms(replies: RunReply[]): Map<number, number> {
  const h = new Map<number, number>();
  for (const r of replies) for (const [b, c] of r.histogram) h.set(b, (h.get(b) ?? 0) + c);
  return h;
}

function latency(h: Map<number, number>) {
  const buckets = [...h.entries()].sort((x, y) => x[0] - y[0]);
  const total = buckets.reduce((s, [, c]) => s + c, 0);
  const at = (p: number) => {
    const want = Math.ceil((p / 100) * total);
    let seen = 0;
    for (const [b, c] of buckets) {
      seen += c;
      if (seen >= want) return round(((b + 1) * BUCKET_US) / 1000, 2);
    }
    return NaN;
  };
  let sum = 0;
  for (const [b, c] of buckets) sum += (b + 0.5) * BUCKET_US * c;
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round((((buckets[buckets.length - 1]?.[0] ?? 0) + 1) * BUCKET_US) / 1000, 2), mean: round(sum / Math.max(1, total) / 1000, 3), samples: total };
}


interface Ctx {
  servers: Record<string, Server>;
  paths: string[];
  viewerToken: string;
  monitorToken: string;
  natsPid: number;
  /** The paths, one a line, for wrk.lua. */
  pathsFile: string;
}

function serverOf(ctx: Ctx, v: VariantName): Server {
  const { target, auth } = VARIANTS[v];
  return ctx.servers[target === 'fastify' ? (auth ? 'fastifyAuth' : 'fastify') : target]!;
}

async function load(port: number, paths: string[], headers: Record<string, string>, seconds: number): Promise<RunReply[]> {
  return Promise.all(
    loads.map((l) => {
      const command: RunCommand = {
        cmd: 'run',
        url: `http://127.0.0.1:${port}`,
        paths,
        offset: Math.floor((l.index * paths.length) / loads.length),
        headers,
        connections: Math.floor(CFG.connections / loads.length) + (l.index < CFG.connections % loads.length ? 1 : 0),
        seconds,
      };
      return l.request<RunReply>(command, seconds * 1000 + 60_000);
    }),
  );
}

interface Generated {
  requests: number;
  seconds: number;
  latencyMs: Record<string, number>;
  status: Record<string, number>;
  errors: number;
  timeouts: number;
  bytes: number;
  /** Cores each load process (autocannon) or thread group (wrk: one process) used. */
  loadCores: number[];
  extra?: Record<string, unknown>;
}

/** autocannon in the load processes (load.ts). */
async function viaAutocannon(port: number, paths: string[], headers: Record<string, string>, seconds: number): Promise<Generated> {
  const replies = await load(port, paths, headers, seconds);
  const status: Record<string, number> = {};
  for (const r of replies) for (const [k, n] of Object.entries(r.statusCounts)) status[k] = (status[k] ?? 0) + n;
  return {
    requests: replies.reduce((s, r) => s + r.requests, 0),
    seconds: Math.max(...replies.map((r) => r.seconds)),
    latencyMs: latency(mergeHistograms(replies)),
    status,
    errors: replies.reduce((s, r) => s + r.errors, 0),
    timeouts: replies.reduce((s, r) => s + r.timeouts, 0),
    bytes: replies.reduce((s, r) => s + r.bytes, 0),
    loadCores: replies.map((r) => round(r.cpuSeconds / r.seconds, 2)),
    extra: { autocannonOwnLatencyMs: replies.map((r) => r.autocannonLatencyMs) },
  };
}

/** wrk (C, epoll) with wrk.lua, `--procs` threads; its CPU from bash's `time`. */
async function viaWrk(port: number, pathsFile: string, headers: Record<string, string>, seconds: number): Promise<Generated> {
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const args = ['-t', String(CFG.procs), '-c', String(CFG.connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', join(HERE, 'wrk.lua')];
  for (const [k, val] of Object.entries(headers)) args.push('-H', `${k}: ${val}`);
  args.push(`http://127.0.0.1:${port}`, '--', pathsFile, String(CFG.procs));
  const proc = startProc('wrk', 'bash', ['-c', `TIMEFORMAT='WRKCPU %U %S %R'; time wrk ${args.map(q).join(' ')}`], {});
  const code = await proc.exited;
  const line = proc.lines.find((l) => l.startsWith('WRKJSON '));
  const cpuLine = proc.lines.find((l) => l.startsWith('WRKCPU '));
  if (code !== 0 || !line || !cpuLine) throw new Error(`wrk failed (${code}): ${proc.lines.slice(-10).join('\n')}`);
  const w = JSON.parse(line.slice(8)) as {
    requests: number;
    durationUs: number;
    bytes: number;
    errors: { connect: number; read: number; write: number; status: number; timeout: number };
    latencyUs: Record<string, number>;
  };
  const [user, sys] = cpuLine.split(' ').slice(1).map(Number) as [number, number];
  const secs = w.durationUs / 1e6;
  const ms = (us: number | undefined) => round((us ?? NaN) / 1000, 2);
  return {
    requests: w.requests,
    seconds: secs,
    latencyMs: { p50: ms(w.latencyUs.p50), p90: ms(w.latencyUs.p90), p99: ms(w.latencyUs.p99), p999: ms(w.latencyUs.p999), max: ms(w.latencyUs.max), mean: round((w.latencyUs.mean ?? NaN) / 1000, 3), samples: w.requests },
    status: { '2xx or 3xx': w.requests - w.errors.status, 'other (wrk status errors)': w.errors.status },
    errors: w.errors.connect + w.errors.read + w.errors.write,
    timeouts: w.errors.timeout,
    bytes: w.bytes,
    loadCores: [round((user + sys) / secs, 2)],
  };
}

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

type RunResult = Awaited<ReturnType<typeof measure>> & { attempt: number };

function summarise(runs: RunResult[]) {
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

function goals(summary: Record<string, unknown>) {
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

// --- set-up --------------------------------------------------------------------------------

async function createDatabase(serverUrl: string): Promise<{ name: string; url: string }> {
  const name = `bench_rest_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await sql(serverUrl, `CREATE DATABASE ${name}`);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return { name, url: u.toString() };
}

async function seed(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const description = 'Funding for community organisations to deliver local programs. '.repeat(Math.ceil(CFG.descriptionChars / 64)).slice(0, CFG.descriptionChars);
    await c.query(
      `INSERT INTO grants (source, external_id, title, description, agency, url, min_amount, max_amount, status, open_date, close_date, locations, categories, vic_outcome_domain)
       SELECT 'bench', 'r' || g, 'Bench grant ' || g, $2, 'Department of Bench Marking', 'https://example.org/grants/' || g, 1000, 50000 + g, 'open',
              '2026-01-01', '2026-12-31', '{VIC,NSW}', '{community,health}', 'community'
       FROM generate_series(1, $1::int) g`,
      [CFG.grants, description],
    );
    // The ids spread over the table, not its first rows only.
    const { rows } = await c.query<{ id: string }>('SELECT id FROM grants ORDER BY random() LIMIT $1', [CFG.ids]);
    return rows.map((r) => r.id);
  } finally {
    await c.end();
  }
}

const token = (sub: string, role?: string) =>
  new SignJWT(role ? { role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 4 * 3_600)
    .sign(new TextEncoder().encode(JWT_SECRET));

async function main(): Promise<void> {
  setChildLifetime(CFG.maxMinutes * 60 + 300);
  const hardStop = setTimeout(() => {
    log('time budget exceeded: stopping everything');
    cleanUpNow();
    process.exit(2);
  }, CFG.maxMinutes * 60_000);
  hardStop.unref();
  const report: Record<string, unknown> = {
    bench: 'rest',
    at: new Date().toISOString(),
    command: `npm run bench:rest -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cores: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg().map((x) => round(x, 2)), node: process.version },
    config: { ...CFG, goals: GOALS, ...(a['gateway-node-args'] ? { gatewayNodeArgs: a['gateway-node-args'] } : {}) },
  };
  let db: { name: string; url: string } | undefined;
  const servers: Record<string, Server> = {};
  const redises: PrivateRedis[] = [];
  let nats: PrivateNats | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'bench-rest-'));
  dirs.push(tmp);
  try {
    db = await createDatabase(a['pg-url']!);
    benchDb = db.name;
    execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' }, stdio: 'ignore' });
    const ids = await seed(db.url);
    const paths = ids.map((id) => `/v1/grants/${id}`);
    nats = await PrivateNats.start();
    children.push(nats.proc);
    dirs.push((nats as unknown as { store: string }).store);
    const gwRedis = await PrivateRedis.start('redis-gateway');
    const fRedis = await PrivateRedis.start('redis-fastify');
    redises.push(gwRedis, fRedis);
    const viewerToken = await token('bench-rest');
    const monitorToken = await token('bench-rest-monitor', 'monitor');
    log(`database ${db.name} with ${CFG.grants} grants; nats ${nats.port}, redis ${gwRedis.port} (gateway) ${fRedis.port} (fastify)`);

    const needGateway = true; // the bare server answers the gateway's captured bytes
    if (needGateway) {
      const gw = await startServer(
        'gateway',
        'src/main.ts',
        {
          ROLES: 'gateway,invalidator',
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          DATABASE_URL: db.url,
          DATABASE_POOL_SIZE: String(CFG.poolSize),
          NATS_URL: nats.url,
          REDIS_URL: gwRedis.url,
          JWT_SECRET,
          APP_ENV: 'production',
          LOG_LEVEL: 'info',
          CACHE_TTL: `${CFG.cacheTtlSeconds}s`,
        },
        'GatewayListening',
      );
      gw.redis = gwRedis;
      servers.gateway = gw;
      // The cache serves entries once the invalidator has set its watermark.
      await gw.proc.waitFor((l) => l.includes('"code":"InvalidatorReset"'), 60_000);
      log(`gateway on ${gw.port} (pid ${gw.pid}), invalidator reset`);
    }
    const auth = { authorization: `Bearer ${viewerToken}` };
    // Warm the gateway's cache: the first pass fills, the second must hit.
    const fill = await getAll(servers.gateway!.port, paths, auth);
    const c0 = await cacheCounters(servers.gateway!, monitorToken);
    const second = await getAll(servers.gateway!.port, paths, auth);
    const c1 = await cacheCounters(servers.gateway!, monitorToken);
    if (Object.keys(statusCounts(second)).join() !== '200') throw new Error(`gateway warm-up answered ${JSON.stringify(statusCounts(second))}: ${second.find((x) => x.status !== 200)?.body}`);
    log(`gateway warm-up: fill pass ${JSON.stringify(statusCounts(fill))}, second pass hits ${c1.hit - c0.hit}/${ids.length}`);

    // Capture the gateway's answers for the bare server.
    const answers: Record<string, { status: string; headers: [string, string][]; body: string }> = {};
    for (const [i, x] of second.entries()) {
      const headers: [string, string][] = [];
      for (let h = 0; h < x.rawHeaders.length; h += 2) if (!AUTOMATIC.has(x.rawHeaders[h]!.toLowerCase())) headers.push([x.rawHeaders[h]!, x.rawHeaders[h + 1]!]);
      answers[ids[i]!] = { status: `${x.status} ${x.statusMessage}`, headers, body: x.body };
    }
    const answersFile = join(tmp, 'answers.json');
    writeFileSync(answersFile, JSON.stringify(answers));
    const sample = answers[ids[0]!]!;
    report.setup = {
      grants: CFG.grants,
      idsRequested: ids.length,
      sampleAnswer: { status: sample.status, headersBesideAutomatic: sample.headers, bodyBytes: Buffer.byteLength(sample.body) },
      gatewayWarmUp: { fillPass: statusCounts(fill), secondPassHits: c1.hit - c0.hit, secondPassMisses: c1.miss - c0.miss },
      gateway: `src/main.ts ROLES=gateway,invalidator APP_ENV=production LOG_LEVEL=info DATABASE_POOL_SIZE=${CFG.poolSize} CACHE_TTL=${CFG.cacheTtlSeconds}s, private redis-server and nats-server`,
      fastify: `Fastify ${fastifyVersion()} logger off, one ioredis client (defaults), pg.Pool max ${CFG.poolSize}, SET EX ${CFG.cacheTtlSeconds}; fastify and fastifyAuth are two processes sharing one private redis-server`,
      loadGenerator: {
        autocannon: `autocannon ${autocannonVersion()} programmatic API in ${CFG.procs} child processes, ${CFG.connections} keep-alive connections in all, no pipelining, a request list of ${ids.length} ids per process (rotated per process); the goals are judged on these runs`,
        ...(CFG.generators.includes('wrk')
          ? { wrk: `wrk ${wrkVersion()} (C, epoll), ${CFG.procs} threads, ${CFG.connections} connections, bench/rest/wrk.lua walking the same ${ids.length} paths from a per-thread offset: a cross-check with a generator that costs far less CPU per request` }
          : {}),
      },
      token: 'HS256 JWT (sub, exp) with the gateway secret; one token for all requests of a run',
      cacheTtlSeconds: CFG.cacheTtlSeconds,
      redisRoundTrips:
        'INFO commandstats call deltas of the target\'s private redis-server over the run, divided by requests; commands run inside Lua scripts (counted by commandstats too) are listed but not counted as round trips',
    };

    if (CFG.variants.includes('bare')) servers.bare = await startServer('bare', 'bench/rest/servers/bare.ts', { PORT: '0', ANSWERS: answersFile });
    const fastifyEnv = { PORT: '0', REDIS_URL: fRedis.url, DATABASE_URL: db.url, POOL_SIZE: String(CFG.poolSize), CACHE_TTL_SECONDS: String(CFG.cacheTtlSeconds), JWT_SECRET, NODE_ENV: 'production' };
    if (CFG.variants.includes('fastify')) servers.fastify = { ...(await startServer('fastify', 'bench/rest/servers/fastify.ts', { ...fastifyEnv, AUTH: '0' })), redis: fRedis };
    if (CFG.variants.includes('fastifyAuth')) servers.fastifyAuth = { ...(await startServer('fastifyAuth', 'bench/rest/servers/fastify.ts', { ...fastifyEnv, AUTH: '1' })), redis: fRedis };

    // Same answers everywhere: bodies and ETags equal to the gateway's for a sample of ids.
    const check: Record<string, unknown> = {};
    for (const [name, s] of Object.entries(servers)) {
      if (name === 'gateway') continue;
      const got = await getAll(s.port, paths.slice(0, 50), name === 'fastifyAuth' ? auth : {});
      // A Fastify server's first pass fills its cache; read again for the cached answer.
      const again = name.startsWith('fastify') ? await getAll(s.port, paths.slice(0, 50), name === 'fastifyAuth' ? auth : {}) : got;
      const same = again.every((x, i) => x.status === 200 && x.body === second[i]!.body && header(x, 'etag') === header(second[i]!, 'etag'));
      check[name] = { sameBodyAndEtagAsGateway: same, bytesGatewayVsThis: [answerBytes(second[0]!), answerBytes(again[0]!)] };
      if (!same) log(`warning: ${name} answers differ from the gateway's: ${again[0]!.body.slice(0, 200)}`);
    }
    report.answersCheck = check;
    // Fill Fastify's cache for every id (one server fills the shared redis-server).
    for (const name of ['fastify', 'fastifyAuth']) {
      const s = servers[name];
      if (s) await getAll(s.port, paths, name === 'fastifyAuth' ? auth : {});
    }

    for (let i = 0; i < CFG.procs; i++) LoadProc.start(i);
    await Promise.all(loads.map((l) => l.request({ cmd: 'ping' }, 60_000)));

    const pathsFile = join(tmp, 'paths.txt');
    writeFileSync(pathsFile, paths.join('\n') + '\n');
    const ctx: Ctx = { servers, paths, viewerToken, monitorToken, natsPid: nats.proc.realPid(), pathsFile };
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
    for (const r of redises) await r.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    killChildren();
    if (db) await sql(a['pg-url']!, `DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`).catch((err: unknown) => log(`could not drop ${db!.name}: ${(err as Error).message}`));
    rmSync(tmp, { recursive: true, force: true });
  }
  const json = JSON.stringify(report, null, 2);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const out = a.out ?? join(ROOT, `bench/results/${quick ? 'rest-quick' : 'rest'}.json`);
  writeFileSync(out, json + '\n');
  process.stdout.write(json + '\n');
  process.exit(0);
}

function header(x: RawAnswer, name: string): string | undefined {
  for (let i = 0; i < x.rawHeaders.length; i += 2) if (x.rawHeaders[i]!.toLowerCase() === name) return x.rawHeaders[i + 1];
  return undefined;
}

/** Status line, headers and body as sent (approximately: HTTP/1.1, CRLFs). */
function answerBytes(x: RawAnswer): number {
  let n = `HTTP/1.1 ${x.status} ${x.statusMessage}\r\n`.length + 2 + Buffer.byteLength(x.body);
  for (let i = 0; i < x.rawHeaders.length; i += 2) n += `${x.rawHeaders[i]}: ${x.rawHeaders[i + 1]}\r\n`.length;
  return n;
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version.
    return (err as { status?: number }).status === 1;
  }
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

let benchDb: string | undefined;

function cleanUpNow(): void {
  killChildren();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    cleanUpNow();
    const drop = benchDb ? sql(a['pg-url']!, `DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`) : Promise.resolve();
    void drop.catch(() => undefined).finally(() => process.exit(130));
  });

main().catch((err: unknown) => {
  process.stderr.write(`bench/rest failed: ${(err as Error).stack ?? String(err)}\n`);
  cleanUpNow();
  process.exit(1);
});
