/**
 * A steady rate of asynchronous operations: `count` calls of `op`, started evenly at `rate`
 * per second (checked every 2 ms), each without waiting for the ones before. The same
 * pacing as the gateway bench's Committer.run, with a fixed count instead of a duration, so
 * two runs of one seeded sequence issue the very same operations.
 */
import { now, sleep } from './time.js';

export interface PacedRun<T> {
  /** What each operation that succeeded resolved to, in the order they resolved. */
  results: T[];
  /** Operations that failed. */
  failed: number;
  /** From the first start to the last settle. */
  seconds: number;
  /** From the first start to the last start. */
  issueSeconds: number;
}

export async function paced<T>(rate: number, count: number, op: (index: number) => Promise<T>): Promise<PacedRun<T>> {
  const results: T[] = [];
  const pending = new Set<Promise<void>>();
  let failed = 0;
  let issued = 0;
  const t0 = now();
  while (issued < count) {
    const due = Math.min(count, Math.floor(((now() - t0) / 1000) * rate) + 1);
    while (issued < due) {
      const p: Promise<void> = op(issued++).then(
        (r) => void results.push(r),
        () => void failed++,
      );
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    if (issued < count) await sleep(2);
  }
  const issueSeconds = (now() - t0) / 1000;
  await Promise.all(pending);
  return { results, failed, seconds: (now() - t0) / 1000, issueSeconds };
}
