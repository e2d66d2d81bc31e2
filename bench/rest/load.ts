/**
 * One load process of bench/rest: autocannon's programmatic API, driven over IPC by run.ts.
 *
 * Each run gets a list of paths (one per grant id) and turns it into autocannon's
 * `requests` list, rotated by `offset` so that two load processes do not walk the ids in
 * step. Every request is built once by autocannon (no `setupRequest`, so nothing is rebuilt
 * per request) and each connection cycles through the list.
 *
 * autocannon's own latency histogram is in whole milliseconds; the bench needs sub-
 * millisecond p50s, so every response's time (autocannon's `response` event, fractional ms)
 * also goes into a histogram of 10 µs buckets (up to 2 s, then one overflow bucket), which
 * run.ts merges across processes. The process reports the CPU it used during the run
 * (`process.cpuUsage`), so a reader can tell whether the load generator was the limit.
 */
import autocannon from 'autocannon';

export interface RunCommand {
  cmd: 'run';
  url: string;
  paths: string[];
  offset: number;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface RunReply {
  requests: number;
  ok2xx: number;
  non2xx: number;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  /** Count per 10 µs bucket, sparse: [bucket, count][]. */
  histogram: [number, number][];
  autocannonLatencyMs: { p50: number; p99: number; max: number };
}

export type Command = RunCommand | { cmd: 'ping' } | { cmd: 'close' };

export const BUCKET_US = 10;
const BUCKETS = 200_000; // 2 s of 10 µs buckets, the last one is "2 s or more"

async function run(c: RunCommand): Promise<RunReply> {
  const n = c.paths.length;
  const requests = Array.from({ length: n }, (_, i) => ({ method: 'GET' as const, path: c.paths[(i + c.offset) % n]! }));
  const hist = new Uint32Array(BUCKETS);
  const statusCounts: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({ url: c.url, connections: c.connections, duration: c.seconds, headers: c.headers, requests }, (err, result) => (err ? reject(err as Error) : resolve(result)));
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    hist[Math.min(BUCKETS - 1, Math.floor((responseTime * 1000) / BUCKET_US))]! += 1;
    statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1;
  });
  const result = await done;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const histogram: [number, number][] = [];
  let requestsSeen = 0;
  for (let i = 0; i < BUCKETS; i++) if (hist[i]) (histogram.push([i, hist[i]!]), (requestsSeen += hist[i]!));
  return {
    requests: requestsSeen,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
    bytes: result.throughput.total,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    histogram,
    autocannonLatencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  };
}

process.on('message', (m: Command) => {
  if (m.cmd === 'ping') process.send!({ ok: true });
  else if (m.cmd === 'close') {
    process.send!({ ok: true });
    process.disconnect();
  } else if (m.cmd === 'run')
    run(m).then(
      (reply) => process.send!(reply),
      (err: unknown) => process.send!({ error: (err as Error).message }),
    );
});
// The orchestrator went away: nothing to do without it.
process.on('disconnect', () => process.exit(0));
