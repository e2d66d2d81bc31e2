/** Summaries of the clients' event times for bench/storm (and bench/soak's loss check). */
import { latencyStats, percentile, round } from '../common/stats.js';
import type { ClientEvents, ClientSummary } from './sdk-protocol.js';

/** Most of `times` in any one-second sliding window. */
export function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1_000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** Counts of `times` per whole second after `t0` (index 0 = the first second). */
export function perSecond(times: number[], t0: number): number[] {
  const out: number[] = [];
  for (const t of times) {
    const s = Math.max(0, Math.floor((t - t0) / 1000));
    while (out.length <= s) out.push(0);
    out[s]!++;
  }
  return out;
}

/** Milliseconds after `t0`: count, min, p10, p50, p90, p99, max. */
export function spread(times: number[], t0: number) {
  const d = times.map((t) => t - t0).sort((a, b) => a - b);
  return { count: d.length, min: round(d[0] ?? NaN, 0), p10: round(percentile(d, 10), 0), p50: round(percentile(d, 50), 0), p90: round(percentile(d, 90), 0), p99: round(percentile(d, 99), 0), max: round(d.at(-1) ?? NaN, 0) };
}

export function latencies(values: number[][]) {
  const all: number[] = [];
  for (const v of values) for (const x of v) all.push(x);
  return latencyStats(all);
}

/**
 * Every client's seqs complete and in order: no gap, no repeat, no `recovered:false`,
 * it saw `end`, and its first seq is not after `start` (so the checked span covers the phase).
 */
export function completeness(clients: (ClientEvents | ClientSummary)[], start: number, end: number) {
  let gaps = 0;
  let repeats = 0;
  let reloads = 0;
  let short = 0;
  let lateStart = 0;
  for (const c of clients) {
    gaps += c.gaps;
    repeats += c.repeats;
    reloads += c.reloads;
    if (c.lastSeq < end) short++;
    if (c.firstSeq > start) lateStart++;
  }
  return { clients: clients.length, gaps, repeats, reloads, endedBeforeLastSeq: short, startedAfterPhaseStart: lateStart, ok: gaps === 0 && repeats === 0 && reloads === 0 && short === 0 && lateStart === 0 };
}

/** Close codes and how many sockets closed with each. */
export function closeCodes(clients: ClientEvents[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of clients) for (const [, code] of c.closes) out[code] = (out[code] ?? 0) + 1;
  return out;
}

/** Least-squares slope of y over x (per unit of x). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : NaN;
}
