/** CPU and memory readings of processes and of the machine, from /proc (Linux). */
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU seconds of every process whose command is `name` (e.g. all Postgres backends). */
export function cpuSecondsByName(name: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== name) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; total: number; softirq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, softirq: (v[6] ?? 0) / CLK_TCK };
}

/** RSS split as /proc/<pid>/status gives it, in MB: anonymous (heaps, malloc) and file-backed (the binary, libraries, mapped files). */
export function rssParts(pid: number): { anonMB: number; fileMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Math.round(statusKb(status, field) / 102.4) / 10;
  return { anonMB: mb('RssAnon'), fileMB: mb('RssFile') };
}

/** A `<field>: N kB` line of /proc/<pid>/status, in kB. */
function statusKb(status: string, field: string): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
}

/**
 * Resident MB of the anonymous mappings by kind: `[heap]` (glibc's main heap: uWS's sockets,
 * buffers, native objects), those of exactly 256 KB (V8's heap pages on x64 Linux, each page
 * its own mapping) and the other anonymous ones (V8's large objects, thread stacks, mmapped
 * allocations). Tells a server's native memory from its JS heap.
 */
export function anonRssByKindMB(pid: number): { heap: number; v8Pages: number; other: number } {
  const kb = { heap: 0, v8Pages: 0, other: 0 };
  let kind: keyof typeof kb | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(\S*)/.exec(line);
    if (range) {
      const anonymous = range[3] === '0' && range[4] === '';
      kind = range[4] === '[heap]' ? 'heap' : !anonymous ? undefined : parseInt(range[2]!, 16) - parseInt(range[1]!, 16) === 262_144 ? 'v8Pages' : 'other';
    } else if (kind && line.startsWith('Rss:')) kb[kind] += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  const mb = (k: number) => Math.round(k / 102.4) / 10;
  return { heap: mb(kb.heap), v8Pages: mb(kb.v8Pages), other: mb(kb.other) };
}

/**
 * Resident MB of the anonymous mappings of exactly 256 KB: V8's heap pages on x64 Linux (each
 * page its own mapping). Less the committed size of V8's paged spaces, this is what V8 keeps
 * mapped outside any space (pages it pooled after shrinking a space, freed later).
 */
export function v8PageRssMB(pid: number): number {
  return anonRssByKindMB(pid).v8Pages;
}

export function rssBytes(pid: number): number {
  return statusKb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') * 1024;
}
