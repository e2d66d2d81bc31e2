/**
 * The two load generators of a run: autocannon in the load processes (load.ts), its
 * latency merged from their 10 µs buckets, and wrk (wrk.lua) with its CPU from bash's
 * `time`. Both give the same `Generated` record.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc } from '../common/processes.js';
import { round } from '../common/stats.js';
import { loads } from './children.js';
import { BUCKET_US, type RunCommand, type RunReply } from './load.js';
import { CFG } from './options.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Sums the load processes' sparse histograms. */
function mergeHistograms(replies: RunReply[]): Map<number, number> {
  const h = new Map<number, number>();
  for (const r of replies) for (const [b, c] of r.histogram) h.set(b, (h.get(b) ?? 0) + c);
  return h;
}

/** Percentiles (ms) of a merged histogram of 10 µs buckets; a bucket counts as its upper edge. */
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

/** One autocannon run in every load process at once, the connections split between them. */
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

export interface Generated {
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
export async function viaAutocannon(port: number, paths: string[], headers: Record<string, string>, seconds: number): Promise<Generated> {
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
export async function viaWrk(port: number, pathsFile: string, headers: Record<string, string>, seconds: number): Promise<Generated> {
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
