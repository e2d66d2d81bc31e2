/**
 * The gateway bench's report beyond the raw phases: what the set-up was, and the goals of
 * the issue judged on the phases' results.
 */
import { round } from '../common/stats.js';
import { CFG, SATURATED, SUSTAINED } from './options.js';

/** How the bench was set up, as the report's `setup` says it. */
export function setupReport(frame: number) {
  return {
    frameBytes: frame,
    grants: CFG.rows,
    loadProcesses: CFG.procs,
    sourceAddresses: Array.from({ length: CFG.procs }, (_, i) => `127.0.0.${2 + i}`),
    clientLibrary: {
      counting: CFG.client === 'ws' ? 'ws (one WebSocket per client)' : 'raw RFC 6455 frame walker on net.Socket with onread (wire.ts)',
      latencySamplers: CFG.samplerClient === 'ws' ? 'ws' : 'raw (wire.ts)',
    },
    latencySamplers: CFG.samplersPerProc * CFG.procs,
    commit: 'single-row UPDATE grants SET title = ... RETURNING id, version, autocommit, 16-connection pool; commit time = when the UPDATE answered',
    gatewayRoles: CFG.gatewayRoles.join(','),
    relay: CFG.gatewayRoles.includes('relay') ? `the gateway's: in its process (ROLES=${CFG.gatewayRoles.join(',')}); the comparison servers': a separate ROLES=relay process` : 'separate process, ROLES=relay',
    natsServer: 'private, JetStream file store',
    pipelines: 'fan-out: one database, relay and nats-server per target, steps interleaved by rate (gateway, bare, socketio at each rate)',
    sustainedBar: SUSTAINED,
    stopBar: SATURATED,
  };
}

/** The issue's goals: fan-out against the ceiling and Socket.IO, memory per connection. */
export function goals(report: Record<string, Record<string, Record<string, unknown>>>) {
  const f = report.fanout ?? {};
  const m = report.memory ?? {};
  const out: Record<string, unknown> = {};
  type Sus = { rate: number; deliveredPerSec: number; p99Ms: number } | null;
  const gw = f.gateway?.highestSustained as Sus | undefined;
  const bare = f.bare?.highestSustained as Sus | undefined;
  const sio = f.socketio;
  if (gw !== undefined && bare !== undefined) {
    type Step = { rate: number; sustained: boolean; latencyMs: { p99: number } };
    const lastPerRate = (steps: Step[]) => steps.filter((s, i) => steps[i + 1]?.rate !== s.rate);
    const gSteps = lastPerRate((f.gateway!.steps as Step[]) ?? []);
    const bSteps = lastPerRate((f.bare!.steps as Step[]) ?? []);
    const p99Ratios = gSteps.flatMap((g) => {
      const b = bSteps.find((s) => s.rate === g.rate);
      return b ? [{ rate: g.rate, gatewayP99Ms: g.latencyMs.p99, ceilingP99Ms: b.latencyMs.p99, ratio: round(g.latencyMs.p99 / b.latencyMs.p99, 2), ceilingDeliveredInFull: b.sustained }] : [];
    });
    // The issue's goal holds "at every rate bare uWS delivers in full": the rates past
    // bare's sustained ones are listed, not judged.
    const judged = p99Ratios.filter((r) => r.ceilingDeliveredInFull);
    out.fanoutSustainedRate = { gateway: gw?.rate ?? 0, ceiling: bare?.rate ?? 0, met: (gw?.rate ?? 0) >= (bare?.rate ?? 0) && (bare?.rate ?? 0) > 0 };
    out.fanoutP99AtMost1_5xCeilingAtEveryRate = {
      perRate: p99Ratios,
      judgedRates: judged.map((r) => r.rate),
      met: judged.length > 0 && judged.every((r) => r.ratio <= 1.5),
    };
  }
  if (gw !== undefined && sio) {
    const sioPeak = sio.peakDeliveredPerSec as number;
    const gwSustained = gw?.deliveredPerSec ?? 0;
    out.fanoutAtLeast5xSocketIO = {
      gatewaySustainedDeliveredPerSec: gwSustained,
      gatewayPeakDeliveredPerSec: f.gateway!.peakDeliveredPerSec,
      socketIOPeakDeliveredPerSec: sioPeak,
      socketIOSustainedDeliveredPerSec: (sio.highestSustained as Sus)?.deliveredPerSec ?? 0,
      ratioSustainedToPeak: round(gwSustained / sioPeak, 2),
      met: gwSustained >= 5 * sioPeak,
    };
  }
  const per = (t: string, key: string) => (m[t]?.[key] as number | undefined) ?? NaN;
  if (m.gateway) {
    // A target whose RSS baseline was not settled (memory.ts) gives no RSS verdict.
    const settled = ['gateway', 'bare', 'socketio'].every((t) => m[t] === undefined || m[t]?.baselineSettled !== false);
    const verdict = (key: string, met: boolean) => (settled || key === 'jsBytesPerConnection' ? met : null);
    const judge = (key: string) => ({
      baselineSettled: settled,
      gatewayBytes: per('gateway', key),
      bareBytes: per('bare', key),
      socketIOBytes: per('socketio', key),
      ratioToBare: round(per('gateway', key) / per('bare', key), 2),
      ratioToSocketIO: round(per('gateway', key) / per('socketio', key), 3),
      atMost1_5xBare: verdict(key, per('gateway', key) <= 1.5 * per('bare', key)),
      atMost1_5xIssuesBareEstimate2KB: verdict(key, per('gateway', key) <= 1.5 * 2048),
      underASixthOfSocketIO: verdict(key, per('gateway', key) < per('socketio', key) / 6),
    });
    out.memoryPerConnection = { rssHeld: judge('bytesPerConnectionHeld'), rss5sAfterConnect: judge('bytesPerConnection'), rssAfterFullGc: judge('bytesPerConnectionAfterGc'), jsHeapAfterFullGc: judge('jsBytesPerConnection') };
  }
  return out;
}
