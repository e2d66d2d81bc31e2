/**
 * Phase `alloc` (`--only alloc`; issue 15): what a server allocates for each connection while
 * a crowd of them opens, by V8's sampling heap profiler with the objects collected by minor
 * and major GCs included, so that short-lived garbage counts as well as what stays. Why it
 * matters: bench/README "What grows the young generation" found that the garbage a handshake
 * leaves, more than the state a connection keeps, decides how far a storm grows V8's young
 * generation, and with it the RSS the memory phase holds.
 *
 * Warm-up as the memory phase (`withWarmServer`, then a full GC), then
 * the profiler on while `--memory-connections` clients connect (subscribed with
 * `--memory-subscribed`), then off. Reported per connection: every sampled byte, and the
 * bytes by the function that allocated them (`self`) and by the innermost function of the
 * service's own `src/` on the allocating stack (`own`: which of our steps caused it). Sampled
 * every 256 bytes, so each figure is an estimate; the profiler's own cost is not in it.
 *
 * Then, with every connection open and idle, the profiler on again for IDLE_SECONDS: what the
 * server allocates per connection per second doing nothing but keeping them (heartbeats,
 * timers). V8 gives a storm's young generation back only once its allocation rate falls below
 * 1 KB/ms; a tick that allocated 160 bytes a connection a second kept 15,000 idle
 * connections above that for good (bench/README "Memory per connection after the tick").
 */
import { round } from '../common/stats.js';
import { sleep } from '../common/time.js';
import type { Env } from './env.js';
import { connectClients } from './load-process.js';
import { withWarmServer } from './memory.js';
import { CFG, log } from './options.js';
import type { Target } from './wire.js';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

const SAMPLING_INTERVAL = 256;
/** How long the idle connections are profiled. */
const IDLE_SECONDS = 15;
const TOP = 25;

/**
 * `name file`, the file from `src/` or `node_modules/` on, and `:line` where V8 gives one
 * (tsx's transformed sources report line 0 for every function of ours: no line is shown).
 */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*?\/(node_modules\/|src\/)/, '$1') || '(native)';
  return `${functionName || '(anonymous)'} ${file}${lineNumber > 0 ? `:${lineNumber + 1}` : ''}`;
}

/**
 * Sampled bytes by allocating function, by the innermost frame of the service's own code,
 * and by the pair of them (which of our steps made which function allocate).
 */
export function allocationsBy(head: ProfileNode): { total: number; self: Map<string, number>; own: Map<string, number>; pairs: Map<string, number> } {
  const self = new Map<string, number>();
  const own = new Map<string, number>();
  const pairs = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode, ownFrame: string) => {
    const name = frameName(node);
    const mine = name.includes(' src/') ? name : ownFrame;
    if (node.selfSize > 0) {
      total += node.selfSize;
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
      own.set(mine, (own.get(mine) ?? 0) + node.selfSize);
      const pair = mine === name ? name : `${mine} > ${name}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + node.selfSize);
    }
    for (const child of node.children ?? []) walk(child, mine);
  };
  walk(head, '(none of the service)');
  return { total, self, own, pairs };
}

const perConnection = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([frame, bytes]) => ({ frame, bytes: Math.round(bytes / n) }));

export async function alloc(env: Env, target: Target) {
  log(`alloc ${target}: ${CFG.memoryConnections} connections under the sampling heap profiler`);
  return withWarmServer(env, target, async ({ server, inspector, loads }) => {
    await inspector.gcAndMemory();
    await inspector.call('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const conn = await connectClients(loads, target, server.port, CFG.memoryConnections, CFG.memorySubscribed, 0);
    const { profile } = (await inspector.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
    const n = Math.max(1, conn.ready);
    const by = allocationsBy(profile.head);
    await inspector.call('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    await sleep(IDLE_SECONDS * 1_000);
    const idle = allocationsBy(((await inspector.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } }).profile.head);
    const perSecond = n * IDLE_SECONDS;
    const result = {
      connections: conn.ready,
      failed: conn.failed,
      subscribed: CFG.memorySubscribed ? 'grants' : null,
      samplingIntervalBytes: SAMPLING_INTERVAL,
      /** Every sampled byte allocated while the connections opened, per connection. */
      bytesPerConnection: Math.round(by.total / n),
      /** By the function that allocated them. */
      self: perConnection(by.self, n),
      /** By the innermost function of the service's own src/ on the stack. */
      own: perConnection(by.own, n),
      /** By the two together: `our step > allocating function` (the step alone where it allocated itself). */
      ownBySelf: perConnection(by.pairs, n),
      ownShareOfTotal: round(([...by.own].filter(([f]) => f.includes(' src/')).reduce((s, [, b]) => s + b, 0) / Math.max(1, by.total)) * 100, 1),
      /** Then every connection open and idle for `idleSeconds`: bytes allocated per connection per second. */
      idle: {
        idleSeconds: IDLE_SECONDS,
        bytesPerConnectionPerSecond: round(idle.total / perSecond, 1),
        kBPerSecond: round(idle.total / IDLE_SECONDS / 1024, 1),
        ownBySelf: [...idle.pairs]
          .sort((a, b) => b[1] - a[1])
          .slice(0, TOP)
          .map(([frame, bytes]) => ({ frame, bytesPerConnectionPerSecond: round(bytes / perSecond, 2) })),
      },
    };
    log(`alloc ${target}: ${result.bytesPerConnection} bytes allocated per connection (${conn.ready} connections); idle ${result.idle.bytesPerConnectionPerSecond} bytes per connection per second`);
    return result;
  });
}
