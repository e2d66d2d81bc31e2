/**
 * Reads the Prometheus text of `/metrics` (CONTRACT section 6) in the ops page: the samples
 * of the series it shows, by name and labels. Enough of the format for prom-client's
 * output (no timestamps, no escaped quotes inside label values are needed here).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a series' samples (every label set), or undefined when the series is absent. */
export function total(samples: readonly Sample[], name: string): number | undefined {
  const of = samples.filter((s) => s.name === name);
  return of.length === 0 ? undefined : of.reduce((sum, s) => sum + s.value, 0);
}

/** One label's values of a series: label value -> sample value. */
export function byLabel(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === name) out[s.labels[label] ?? ''] = (out[s.labels[label] ?? ''] ?? 0) + s.value;
  return out;
}
