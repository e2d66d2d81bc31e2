/**
 * The views bench's verdict: per commit rate, the two phases side by side (their rounds
 * pooled), the goal of issue 12 (gateway CPU per event with filtered views at most
 * GOAL_CPU_RATIO times that on `grants`), and the bytes sent against a design where every
 * client receives every event and filters for itself.
 */
import { round, sum } from '../common/stats.js';
import type { SavedSearch } from './corpus.js';
import { GOAL_CPU_RATIO } from './options.js';

/** What the summary reads of a step (phase.ts adds more). */
export interface StepSummary {
  phase: 'grants' | 'views';
  rate: number;
  events: number;
  clients: number;
  deliveredFrames: number;
  expectedFrames: number;
  bytesToClients: number;
  windowSeconds: number;
  shareOfEventsPerClient: number;
  latencyMs: { p50: number; p99: number; samples: number };
  gateway: { cpuSeconds: number };
  cpuCores: { others: number };
  clientsOpenAfter: number;
}

/** A phase whose sampled p99 passes this had clients far behind (the load generator, see its cores). */
const BEHIND_P99_MS = 1_000;

const pool = (steps: StepSummary[], idleCores: number) => {
  const events = sum(steps.map((s) => s.events));
  const cpu = sum(steps.map((s) => s.gateway.cpuSeconds));
  const idle = idleCores * sum(steps.map((s) => s.windowSeconds));
  return {
    steps: steps.length,
    events,
    gatewayCpuSeconds: round(cpu, 2),
    gatewayCpuMsPerEvent: round((cpu / events) * 1000, 3),
    gatewayCpuMsPerEventNetOfIdle: round((Math.max(0, cpu - idle) / events) * 1000, 3),
    latencyP50Ms: steps.map((s) => s.latencyMs.p50),
    latencyP99Ms: steps.map((s) => s.latencyMs.p99),
    latencySamples: sum(steps.map((s) => s.latencyMs.samples)),
    framesDelivered: sum(steps.map((s) => s.deliveredFrames)),
    framesExpected: sum(steps.map((s) => s.expectedFrames)),
    framesPerEvent: round(sum(steps.map((s) => s.deliveredFrames)) / events, 1),
    bytesToClients: sum(steps.map((s) => s.bytesToClients)),
    bytesPerEvent: Math.round(sum(steps.map((s) => s.bytesToClients)) / events),
    othersCores: steps.map((s) => s.cpuCores.others),
    clientsMin: Math.min(...steps.map((s) => s.clients)),
    clientsOpenAfterMin: Math.min(...steps.map((s) => s.clientsOpenAfter)),
  };
};

export function summarise(steps: StepSummary[], idle: { grants: number; views: number }, rates: number[], searches: readonly SavedSearch[]) {
  const perRate = rates.flatMap((rate) => {
    const g = steps.filter((s) => s.phase === 'grants' && s.rate === rate);
    const v = steps.filter((s) => s.phase === 'views' && s.rate === rate);
    if (!g.length || !v.length) return [];
    const grants = pool(g, idle.grants);
    const views = pool(v, idle.views);
    const cpuRatio = round(views.gatewayCpuMsPerEvent / grants.gatewayCpuMsPerEvent, 3);
    return [
      {
        rate,
        grants,
        views,
        gatewayCpuPerEventRatio: cpuRatio,
        gatewayCpuPerEventRatioNetOfIdle: round(views.gatewayCpuMsPerEventNetOfIdle / grants.gatewayCpuMsPerEventNetOfIdle, 3),
        goalMet: cpuRatio <= GOAL_CPU_RATIO,
        clientsFellBehind: { grants: grants.latencyP99Ms.some((p) => p > BEHIND_P99_MS), views: views.latencyP99Ms.some((p) => p > BEHIND_P99_MS) },
        bytes: {
          // Client-side filtering: every client receives every event, as on `grants`.
          clientSideFilteringPerEvent: grants.bytesPerEvent,
          filteredViewsPerEvent: views.bytesPerEvent,
          filteredShareOfClientSide: round(views.bytesPerEvent / grants.bytesPerEvent, 4),
          savedPerEvent: grants.bytesPerEvent - views.bytesPerEvent,
        },
      },
    ];
  });
  const shares = searches.map((s) => s.share).sort((a, b) => a - b);
  const measured = steps.filter((s) => s.phase === 'views').map((s) => s.shareOfEventsPerClient);
  return {
    goal: `gateway CPU per event with ${searches.length} filtered views at most ${GOAL_CPU_RATIO}x that with every client on grants`,
    goalMet: perRate.length === rates.length && perRate.every((r) => r.goalMet),
    perRate,
    selectivity: {
      savedSearchShareOfCatalogue: {
        mean: round(sum(shares) / shares.length, 4),
        median: shares[Math.floor(shares.length / 2)],
        min: shares[0],
        max: shares[shares.length - 1],
      },
      measuredShareOfEventsPerFilteredClient: round(sum(measured) / Math.max(1, measured.length), 4),
    },
  };
}
