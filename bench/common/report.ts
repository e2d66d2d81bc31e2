/**
 * What a bench prints: progress lines on stderr, and one JSON document on stdout, also
 * kept in bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.js';
import { round } from './stats.js';
import { now } from './time.js';

/** A progress logger: `[bench:<name> <seconds since started>s] message` on stderr. */
export function benchLog(name: string, started: number): (message: string) => void {
  return (message: string) => process.stderr.write(`[bench:${name} ${round((now() - started) / 1000, 0)}s] ${message}\n`);
}

/** The first keys of every report: which bench, when, the command and the machine. */
export function reportHeader(bench: string) {
  return {
    bench,
    at: new Date().toISOString(),
    command: `npm run bench:${bench} -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cores: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg().map((x) => round(x, 2)), node: process.version },
  };
}

/** Writes the report to `out`, or else to bench/results/<name>.json, and prints it. */
export function writeReport(report: Record<string, unknown>, name: string, out: string | undefined): void {
  const json = JSON.stringify(report, null, 2);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(out ?? join(ROOT, `bench/results/${name}.json`), json + '\n');
  process.stdout.write(json + '\n');
}
