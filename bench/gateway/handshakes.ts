/**
 * Phase 3, authenticated handshakes per second: every load process runs connect, welcome,
 * close loops for a bounded time; the server's CPU per handshake beside the rate.
 */
import { CpuMeter } from '../common/cpu-meter.js';
import { waitQuiet } from '../common/quiet.js';
import { latencyStats, round, sum } from '../common/stats.js';
import { sleep } from '../common/time.js';
import { startServer, type Env } from './env.js';
import { startLoads } from './load-process.js';
import type { HandshakeReply } from './load-protocol.js';
import { CFG, JWT_SECRET, log } from './options.js';
import type { Target } from './wire.js';

/** Handshakes per second against `target`, from `--procs` x `--handshake-concurrency` loops. */
export async function handshakes(env: Env, target: Target) {
  await waitQuiet(10_000, 0.35);
  log(`handshakes ${target}: ${CFG.procs} x ${CFG.handshakeConcurrency} loops for ${CFG.handshakeSeconds} s`);
  const server = await startServer(env, target);
  const loads = startLoads(CFG.procs);
  const meter = new CpuMeter(() => ({ server: server.pid, ...Object.fromEntries(loads.map((l) => [`load${l.index}`, l.child.pid])) }));
  try {
    // The load processes answer once loaded (tsx compiles at start): only then measure.
    await Promise.all(loads.map((l) => l.request({ cmd: 'mark' })));
    await sleep(500);
    meter.reset();
    const replies = await Promise.all(
      loads.map((l) =>
        l.request<HandshakeReply>(
          {
            cmd: 'handshakes',
            target,
            port: server.port,
            localAddress: l.localAddress,
            concurrency: CFG.handshakeConcurrency,
            seconds: CFG.handshakeSeconds,
            secret: JWT_SECRET,
            subPrefix: `hs-${target}-${l.index}`,
          },
          CFG.handshakeSeconds * 1000 + 60_000,
        ),
      ),
    );
    const cpu = meter.read();
    const done = sum(replies.map((r) => r.done));
    const errors: Record<string, number> = {};
    for (const r of replies) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    // The load processes' own count of the CPU they spent in the loops.
    const loadCores = sum(replies.map((r) => r.cpuMs)) / 1000 / CFG.handshakeSeconds;
    const result = {
      handshakesPerSec: Math.round(done / CFG.handshakeSeconds),
      done,
      failed: sum(replies.map((r) => r.failed)),
      errors,
      inFlight: CFG.procs * CFG.handshakeConcurrency,
      latencyMs: latencyStats(replies.flatMap((r) => r.latencies)),
      cpuCores: {
        server: cpu.cores.server,
        loadProcesses: round(loadCores, 2),
        machineBusy: cpu.machineBusyCores,
        machineSoftirq: cpu.machineSoftirqCores,
        others: round(Math.max(0, cpu.machineBusyCores - (cpu.cores.server ?? 0) - loadCores - (cpu.cores.postgres ?? 0)), 2),
      },
      serverCpuUsPerHandshake: Math.round(((cpu.cores.server ?? 0) * cpu.seconds * 1e6) / Math.max(1, done)),
    };
    log(`handshakes ${target}: ${result.handshakesPerSec}/s, p99 ${result.latencyMs.p99} ms, server ${cpu.cores.server} cores`);
    return result;
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await server.proc.stop();
  }
}
