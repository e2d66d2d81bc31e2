/**
 * CPU cores used over a window by named processes, by all Postgres backends and by the
 * whole machine; what tells a reader whether the server or the load generator ran out.
 */
import { cpuSeconds, cpuSecondsByName, machineCpu } from './procfs.js';
import { round } from './stats.js';
import { now } from './time.js';

/** Snapshots CPU counters of named processes and the machine; `read` gives cores used since `reset`. */
export class CpuMeter {
  private start = new Map<string, number>();
  private machineStart = machineCpu();
  private t0 = now();

  constructor(private readonly pids: () => Record<string, number | undefined>) {
    this.reset();
  }

  reset(): void {
    this.start = new Map(Object.entries(this.readAll()));
    this.machineStart = machineCpu();
    this.t0 = now();
  }

  private readAll(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) if (pid !== undefined) out[name] = cpuSeconds(pid);
    out.postgres = cpuSecondsByName('postgres');
    return out;
  }

  /**
   * Cores used by each process since the reset (1.0 = one core busy), and by the machine;
   * softirq is the kernel's packet processing, which no process is charged for.
   */
  read(): { seconds: number; cores: Record<string, number>; machineBusyCores: number; machineSoftirqCores: number; machineCores: number } {
    const seconds = (now() - this.t0) / 1000;
    const cores: Record<string, number> = {};
    for (const [name, value] of Object.entries(this.readAll())) cores[name] = round((value - (this.start.get(name) ?? value)) / seconds, 2);
    const m = machineCpu();
    return {
      seconds: round(seconds, 2),
      cores,
      machineBusyCores: round((m.busy - this.machineStart.busy) / seconds, 2),
      machineSoftirqCores: round((m.softirq - this.machineStart.softirq) / seconds, 2),
      machineCores: round((m.total - this.machineStart.total) / seconds, 2),
    };
  }
}
