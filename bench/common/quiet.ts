/** The wait for a quiet machine before a measurement (other sessions' tests share it). */
import { cpus } from 'node:os';
import { machineCpu } from './procfs.js';
import { round } from './stats.js';
import { now, sleep } from './time.js';

/**
 * Waits (at most `maxMs`) until the machine is quiet apart from us (other sessions' tests
 * share it): fewer than `busyCores` cores busy over one second. Returns the last reading.
 */
export async function waitQuiet(maxMs: number, busyCores: number): Promise<number> {
  const until = now() + maxMs;
  let busy = 0;
  do {
    const m0 = machineCpu();
    await sleep(1_000);
    const m1 = machineCpu();
    busy = (m1.busy - m0.busy) / ((m1.total - m0.total) / cpus().length);
    if (busy < busyCores) break;
  } while (now() < until);
  return round(busy, 2);
}
