/**
 * Phase 2, memory per idle authenticated connection: the server's RSS (and, through its
 * inspector, its JS heap after a full GC) before and after M connections. RSS is read 5 s
 * after the last connected, then every 5 s for two minutes with no forced GC (the last of
 * these, `bytesPerConnectionHeld`, is issue 15's measure: what the process keeps once V8
 * has shrunk its heap by itself), then after a forced full GC.
 */
import { anonRssByKindMB, rssBytes, rssParts, v8PageRssMB } from '../common/procfs.js';
import { round } from '../common/stats.js';
import { sleep } from '../common/time.js';
import { startServer, type Env, type Server } from './env.js';
import { Inspector, type MemoryUsage } from './inspector.js';
import { connectClients, startLoads, type LoadProcess } from './load-process.js';
import { CFG, log, quick } from './options.js';
import type { Target } from './wire.js';

/** Readings of the held RSS, 5 s apart, after the first at 5 s (two minutes: GATEWAY_HEARTBEAT rounds included; 30 s with --quick). */
const HELD_SAMPLES = quick ? 6 : 24;
/** Seconds over which the baseline's lowest RSS is taken. */
const SETTLE_SECONDS = quick ? 10 : 30;

/**
 * The baseline: the lowest RSS over 30 s (10 s with --quick) after a forced GC. V8 gives freed pages back to the
 * system some seconds after a collection; a reading taken at once would count memory that
 * the idle process does not keep, and understate what the connections add.
 */
async function settledRss(pid: number): Promise<number> {
  let low = rssBytes(pid);
  for (let i = 0; i < SETTLE_SECONDS; i++) {
    await sleep(1_000);
    low = Math.min(low, rssBytes(pid));
  }
  return low;
}

/** RSS once two readings 1 s apart differ by less than 256 KB (at most 20 s). */
async function stableRss(pid: number): Promise<number> {
  let last = rssBytes(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(1_000);
    const next = rssBytes(pid);
    if (Math.abs(next - last) < 262_144) return next;
    last = next;
  }
  return last;
}

/** MB of V8 heap pages resident outside V8's paged spaces (new, old, code): pooled pages. */
function outsideSpaces(pid: number, spacesMB: Record<string, number>): number {
  const paged = (spacesMB.new_space ?? 0) + (spacesMB.old_space ?? 0) + (spacesMB.code_space ?? 0);
  return round(Math.max(0, v8PageRssMB(pid) - paged));
}

/** The RSS split (anonymous, file-backed), V8's spaces, the V8 pages outside them, and the anonymous RSS by kind (glibc's heap, V8's pages, other). */
async function parts(pid: number, inspector: Inspector) {
  const spacesMB = (await inspector.memoryBySpace()).spacesMB;
  return { ...rssParts(pid), spacesMB, v8PagesOutsideSpacesMB: outsideSpaces(pid, spacesMB), anonByKindMB: anonRssByKindMB(pid) };
}

/** What `withWarmServer` hands its measurement. */
export interface WarmServer {
  server: Server;
  inspector: Inspector;
  loads: LoadProcess[];
  /** Connections opened and closed to warm the server up. */
  warm: number;
}

/**
 * A server of `target` with its V8 inspector on (it lets the bench run a full GC in the
 * server and read its heap; on only for these measurements) and the load processes, warmed
 * up first (code paths, JIT, allocator pools, the JS heap after start-up) by opening and
 * closing a few hundred connections, so that what `measure` sees is the connections' own.
 * Everything is stopped when `measure` ends. The memory and alloc phases start this way.
 */
export async function withWarmServer<T>(env: Env, target: Target, measure: (w: WarmServer) => Promise<T>): Promise<T> {
  const server = await startServer(env, target, ['--inspect=127.0.0.1:0']);
  const inspector = await Inspector.attach(server.proc);
  const loads = startLoads(CFG.procs);
  try {
    const warm = Math.min(500, Math.ceil(CFG.memoryConnections / 10));
    await connectClients(loads, target, server.port, warm, CFG.memorySubscribed, 0);
    await Promise.all(loads.map((l) => l.request({ cmd: 'closeClients' })));
    await sleep(1_000);
    return await measure({ server, inspector, loads, warm });
  } finally {
    inspector.close();
    await Promise.all(loads.map((l) => l.stop()));
    await server.proc.stop();
  }
}

/** RSS and JS heap per idle connection of `target` (`--memory-connections`, subscribed with `--memory-subscribed`). */
export async function memory(env: Env, target: Target) {
  log(`memory ${target}: ${CFG.memoryConnections} idle connections`);
  return withWarmServer(env, target, async ({ server, inspector, loads, warm }) => {
    // The baseline: after a full GC, the lowest RSS once it stops moving.
    const heapBefore = await inspector.gcAndMemory();
    const before = await settledRss(server.pid);
    const baselineParts = await parts(server.pid, inspector);
    const conn = await connectClients(loads, target, server.port, CFG.memoryConnections, CFG.memorySubscribed, 0);
    await sleep(5_000);
    const after = rssBytes(server.pid);
    // What the process holds once V8 shrinks its heap by itself (its memory reducer runs
    // when allocation stops, some seconds later): RSS every 5 s for two minutes, no forced GC.
    const held: number[] = [];
    const heldHeap: { anonMB: number; fileMB: number; v8PagesOutsideSpacesMB: number; heapTotalMB: number; heapUsedMB: number; externalMB: number; spacesMB: Record<string, number> }[] = [];
    for (let i = 0; i < HELD_SAMPLES; i++) {
      await sleep(5_000);
      held.push(rssBytes(server.pid));
      const m = await inspector.memoryBySpace();
      heldHeap.push({ ...rssParts(server.pid), v8PagesOutsideSpacesMB: outsideSpaces(server.pid, m.spacesMB), heapTotalMB: round(m.heapTotal / 2 ** 20), heapUsedMB: round(m.heapUsed / 2 ** 20), externalMB: round(m.external / 2 ** 20), spacesMB: m.spacesMB });
    }
    const heapAfter = await inspector.gcAndMemory();
    const afterGc = await stableRss(server.pid);
    const afterGcParts = await parts(server.pid, inspector);
    await Promise.all(loads.map((l) => l.request({ cmd: 'closeClients' })));
    await sleep(3_000);
    const heapClosed = await inspector.gcAndMemory();
    const afterClose = rssBytes(server.pid);
    const js = (m: MemoryUsage) => m.heapUsed + m.external;
    const n = Math.max(1, conn.ready);
    const result = {
      connections: conn.ready,
      failed: conn.failed,
      errors: conn.errors,
      connectMs: conn.ms,
      subscribed: CFG.memorySubscribed ? 'grants' : 'nothing',
      warmUpConnections: warm,
      rssMBBefore: round(before / 2 ** 20),
      rssMBAfter: round(after / 2 ** 20),
      rssMBAfterGc: round(afterGc / 2 ** 20),
      rssMBAfterAllClosed: round(afterClose / 2 ** 20),
      /** The baseline's RSS split (anonymous, file-backed) and V8's heap spaces then; the same after the full GC. Where a baseline that does not settle holds its memory. */
      baselineParts,
      afterGcParts,
      jsHeapPlusExternalMB: { before: round(js(heapBefore) / 2 ** 20, 2), after: round(js(heapAfter) / 2 ** 20, 2), afterAllClosed: round(js(heapClosed) / 2 ** 20, 2) },
      /** RSS growth per connection 5 s after the last connected (the garbage of opening them not yet collected). */
      bytesPerConnection: Math.round((after - before) / n),
      /** The measure of issue 15: RSS growth per connection held two minutes later (30 s with --quick), with no forced GC (what an operator pays). */
      bytesPerConnectionHeld: Math.round((held.at(-1)! - before) / n),
      /** RSS growth per connection every 5 s from 10 s after the last connected (to 125 s; 35 s with --quick). */
      bytesPerConnectionEvery5s: held.map((r) => Math.round((r - before) / n)),
      /** At each of those readings, the JS heap without a GC: committed and used, external, and each space's committed size (where the held RSS sits). */
      heldHeap,
      /**
       * The held figure with the V8 pages outside any space taken out of both readings (the
       * baseline's and the last held one's). V8 pools the pages of a space it shrinks and frees
       * them later: a baseline taken while start-up's pages are still pooled holds memory the
       * storm then reuses, and the plain figure understates (seen: 32 MB pooled at a baseline).
       */
      bytesPerConnectionHeldWithoutV8Pool: Math.round((held.at(-1)! - heldHeap.at(-1)!.v8PagesOutsideSpacesMB * 2 ** 20 - (before - baselineParts.v8PagesOutsideSpacesMB * 2 ** 20)) / n),
      /** The same after a full GC in the server: what the idle connections keep, without the garbage of opening them. */
      bytesPerConnectionAfterGc: Math.round((afterGc - before) / n),
      /** The part of it that is retained JS objects, after a full GC (uWS's native memory is not in it). */
      jsBytesPerConnection: Math.round((js(heapAfter) - js(heapBefore)) / n),
      /**
       * False when the RSS after a full GC grew by less than the retained JS heap did: the
       * baseline then held memory the process gave back later (seen once: baseline 153 MB
       * against 130-135 in other runs, RSS after GC below it), and every RSS figure of this
       * target understates. Its verdicts are then not given (report.ts).
       */
      baselineSettled: afterGc - before >= js(heapAfter) - js(heapBefore),
    };
    log(`memory ${target}: ${result.bytesPerConnection} bytes RSS at 5 s, ${result.bytesPerConnectionHeld} at ${5 + 5 * HELD_SAMPLES} s, ${result.jsBytesPerConnection} bytes JS heap per connection (${conn.ready} connections)`);
    return result;
  });
}
