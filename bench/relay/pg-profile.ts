/**
 * `bench:relay -- --pg-profile`: where Postgres spends its CPU per update, with and without
 * capture (issue 15 asks for the profile behind a missed goal).
 *
 * While a pgbench run goes on, `perf record` samples every CPU (999 Hz, call graphs); the
 * samples of `postgres` processes are sorted by the Postgres 15 functions on their stack
 * into the parts below, and each part is given as CPU microseconds per committed update
 * (samples / seconds sampled / updates per second). Needs `perf` (Debian: linux-perf) and
 * `kernel.perf_event_paranoid` at most 2 as root; without it the run goes on unprofiled.
 *
 * Parts (a sample counts once, in the first that matches, in this order):
 * - `captureTrigger`: under `AfterTriggerEndQuery` (the AFTER row trigger; it wrote an
 *   update's log row until migration 007, an insert's and a delete's since);
 * - `stampTrigger`: under `ExecBRUpdateTriggers(New)` (the BEFORE trigger: the version stamp,
 *   and since migration 007 an update's log row);
 * - the pieces of the log's write in either trigger are listed in `captureTriggerParts`
 *   (these overlap; under the BEFORE trigger `walInsert` also counts the WAL record of the
 *   row lock Postgres takes before it calls the trigger, so it is not zero for the stamp
 *   alone);
 * - `commit`: under `CommitTransactionCommand` (WAL flush included);
 * - `clientRead`: waiting in `pq_getbyte` / `secure_read` for the next message;
 * - `statement`: the rest of the backend (the UPDATE itself, protocol, executor);
 * - `otherProcesses`: postgres processes that are not backends (WAL writer, checkpointer,
 *   autovacuum).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FREQUENCY = 999;

/** Pieces of the log's write, in either trigger, by a function on the stack (they may overlap). */
const CAPTURE_PARTS: Record<string, string> = {
  logHeapInsert: 'heap_insert',
  logPageForTuple: 'RelationGetBufferForTuple',
  logIndexInsert: 'ExecInsertIndexTuples',
  logCheckConstraint: 'ExecConstraints',
  spiExecutorStart: 'standard_ExecutorStart',
  rowToJson: 'row_to_json',
  previousFields: 'json_build_object',
  logIdSequence: 'nextval_internal',
  walInsert: 'XLogInsert',
};

export interface PgProfile {
  updatesPerSecond: number;
  secondsSampled: number;
  samples: number;
  /** CPU microseconds per committed update, by part (see the module comment). */
  usPerUpdate: Record<string, number>;
  captureTriggerParts: Record<string, number>;
}

export function perfAvailable(): boolean {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `run` (a pgbench run of `seconds`) and samples the machine from 1 s after its start
 * for `seconds - 2` seconds.
 */
export async function profilePostgres<T extends { tps: number }>(seconds: number, run: () => Promise<T>): Promise<{ result: T; profile: PgProfile }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-pg-profile-'));
  const data = join(dir, 'perf.data');
  const sampled = Math.max(1, seconds - 2);
  const running = run();
  await new Promise((r) => setTimeout(r, 1_000));
  const perf = spawn('perf', ['record', '-q', '-o', data, '-F', String(FREQUENCY), '-a', '-g', '--', 'sleep', String(sampled)], { stdio: 'ignore' });
  const perfCode = await new Promise<number | null>((resolve) => perf.once('exit', resolve));
  const result = await running;
  if (perfCode !== 0) throw new Error(`perf record failed (${perfCode})`);
  const script = execFileSync('perf', ['script', '-i', data, '--comm', 'postgres'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  rmSync(dir, { recursive: true, force: true });
  return { result, profile: breakdown(script, result.tps, sampled) };
}

/** Sorts `perf script` call stacks into the parts of the module comment. */
export function breakdown(script: string, updatesPerSecond: number, secondsSampled: number): PgProfile {
  const counts: Record<string, number> = { captureTrigger: 0, stampTrigger: 0, commit: 0, clientRead: 0, statement: 0, otherProcesses: 0 };
  const parts: Record<string, number> = Object.fromEntries(Object.keys(CAPTURE_PARTS).map((k) => [k, 0]));
  let samples = 0;
  for (const block of script.split('\n\n')) {
    const lines = block.trim().split('\n');
    if (lines.length < 2) continue;
    samples++;
    // A frame line: "<address> <symbol>+0x<offset> (<object>)".
    const stack = new Set(lines.slice(1).map((l) => l.trim().split(/\s+/)[1]?.replace(/\+0x[0-9a-f]+$/, '') ?? ''));
    if (!stack.has('PostgresMain')) counts.otherProcesses!++;
    else if (stack.has('AfterTriggerEndQuery') || stack.has('ExecBRUpdateTriggersNew') || stack.has('ExecBRUpdateTriggers')) {
      counts[stack.has('AfterTriggerEndQuery') ? 'captureTrigger' : 'stampTrigger']!++;
      for (const [part, fn] of Object.entries(CAPTURE_PARTS)) if (stack.has(fn)) parts[part]!++;
    }
    else if (stack.has('CommitTransactionCommand')) counts.commit!++;
    else if (stack.has('pq_getbyte') || stack.has('secure_read')) counts.clientRead!++;
    else counts.statement!++;
  }
  const us = (n: number) => Math.round((n / secondsSampled / FREQUENCY / updatesPerSecond) * 1e7) / 10;
  const usPerUpdate = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, us(n)]));
  usPerUpdate.total = us(samples);
  return { updatesPerSecond, secondsSampled, samples, usPerUpdate, captureTriggerParts: Object.fromEntries(Object.entries(parts).map(([k, n]) => [k, us(n)])) };
}
