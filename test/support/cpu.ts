import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time by process group, read from /proc (Linux): for reports of where a machine's CPU
 * went during a window, not for assertions. `groups` maps a name to the pids counted under
 * it; every process whose command is `postgres` or `nats-server` is counted under that
 * name unless a group names it; `machine` is the busy time of all cores.
 */
export type CpuSnapshot = Record<string, number>;

const TICKS_PER_SECOND = 100;

function processTicks(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command is in parentheses and may hold spaces: the fields follow its last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    return { comm, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // gone between the listing and the read
  }
}

export function cpuSnapshot(groups: Record<string, readonly number[]>): CpuSnapshot {
  const named = new Map<number, string>();
  for (const [name, pids] of Object.entries(groups)) for (const pid of pids) named.set(pid, name);
  const out: CpuSnapshot = { postgres: 0, 'nats-server': 0 };
  for (const name of Object.keys(groups)) out[name] = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const p = processTicks(pid);
    if (!p) continue;
    const name = named.get(pid) ?? (p.comm === 'postgres' || p.comm === 'nats-server' ? p.comm : undefined);
    if (name) out[name] = (out[name] ?? 0) + p.ticks;
  }
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
  const [, user, nice, system, , , irq, softirq, steal] = cpu!.trim().split(/\s+/).map(Number);
  out.machine = user! + nice! + system! + irq! + softirq!;
  out.steal = steal!;
  return out;
}

/** Share of one core each group used between two snapshots `seconds` apart (1.0 = one core). */
export function cpuShares(before: CpuSnapshot, after: CpuSnapshot, seconds: number): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(((after[k]! - (before[k] ?? 0)) / TICKS_PER_SECOND / seconds) * 100) / 100]));
}
