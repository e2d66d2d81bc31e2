/**
 * The invalidator's loop without servers: the cache and the stream are in-memory fakes
 * behind the interfaces of cache/invalidation-store.ts. The same rules are exercised against
 * real Redis and NATS in test/rest/cache.test.ts; here each one is placed exactly.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeSource, InvalidateResult, InvalidationStore, StreamMessage } from '../../src/cache/invalidation-store.js';
import { Invalidator } from '../../src/cache/invalidator.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { testLog } from '../support/log.js';

const encoder = new TextEncoder();
const idOf = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Event `seq` changes grant `seq % 3` to version `seq`. */
function event(seq: number): StreamMessage {
  const id = idOf(seq % 3);
  return { seq, subject: `grants.changed.${id}`, data: encoder.encode(JSON.stringify({ seq, op: 'update', id, version: seq, committedAt: new Date().toISOString() })), pending: 0 };
}

/** The cache in memory: tombstones by id, the watermark, and a log of what was called. */
class FakeStore implements InvalidationStore {
  wm: number | null = null;
  tombstones = new Map<string, number>();
  readonly calls: string[] = [];
  /** Called before each invalidate; may throw (Redis away) or change the state (a restore). */
  beforeInvalidate: (first: number) => void = () => undefined;
  private waiters: { seq: number; resolve: () => void }[] = [];

  async watermark() {
    return this.wm;
  }
  async deleteAll() {
    this.calls.push('deleteAll');
    const n = this.tombstones.size;
    this.tombstones.clear();
    return n;
  }
  async resetWatermark(seq: number) {
    this.calls.push(`reset ${seq}`);
    this.wm = seq;
    this.wake();
  }
  async invalidate(first: number, last: number, changes: readonly (readonly [string, number])[]): Promise<InvalidateResult> {
    this.beforeInvalidate(first);
    this.calls.push(`invalidate ${first}-${last}`);
    if (this.wm === null) return { kind: 'no_watermark' };
    if (first > this.wm + 1) return { kind: 'behind', watermark: this.wm };
    for (const [id, version] of changes) if ((this.tombstones.get(id) ?? 0) < version) this.tombstones.set(id, version);
    this.wm = Math.max(this.wm, last);
    this.wake();
    return { kind: 'applied' };
  }
  private wake() {
    for (const w of this.waiters.filter((w) => this.wm! >= w.seq)) w.resolve();
  }
  async drop(id: string) {
    this.calls.push(`drop ${id}`);
  }
  /** Resolves once the watermark reached `seq`. */
  reached(seq: number): Promise<void> {
    if (this.wm !== null && this.wm >= seq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }
}

/** A stream holding `first..last`; every read delivers to the end, then waits until stopped. */
class FakeSource implements ChangeSource {
  readonly reads: number[] = [];
  /** Where the first read ends by itself, as a reader whose consumer died does (none: it does not). */
  endFirstReadAfter: number | undefined;
  constructor(
    private readonly first: number,
    private readonly last: number,
    private readonly message: (seq: number) => StreamMessage = event,
  ) {}
  async bounds() {
    return { first: this.first, last: this.last };
  }
  async read(from: number) {
    this.reads.push(from);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const { first, last, message } = this;
    const endAfter = this.reads.length === 1 ? this.endFirstReadAfter : undefined;
    async function* messages(): AsyncIterable<StreamMessage> {
      for (let seq = Math.max(from, first); seq <= last; seq++) {
        yield { ...message(seq), pending: last - seq };
        if (seq === endAfter) return;
      }
      await stopped;
    }
    return { messages: messages(), stop };
  }
}

function invalidator(store: FakeStore, source: FakeSource): Invalidator {
  return new Invalidator(store, source, { batchSize: 4, fillWindowMs: 5 }, testLog, createMetrics());
}

describe('invalidator', () => {
  it('invalidator - resumes at watermark + 1 and applies every later event in batches', async () => {
    const store = new FakeStore();
    store.wm = 2;
    const source = new FakeSource(1, 10);
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(10);
    await inv.stop();
    expect(source.reads).toEqual([3]);
    expect(store.calls).toEqual(['invalidate 3-6', 'invalidate 7-10']);
    expect(store.tombstones).toEqual(new Map([[idOf(0), 9], [idOf(1), 10], [idOf(2), 8]]));
  });

  it('invalidator - a Redis restored from an older snapshot (watermark behind) is rewound and nothing is skipped', async () => {
    const store = new FakeStore();
    store.wm = 0;
    const source = new FakeSource(1, 10);
    let restored = false;
    store.beforeInvalidate = (first) => {
      if (first === 5 && !restored) {
        // The snapshot knew events up to 2 only.
        restored = true;
        store.wm = 2;
        store.tombstones = new Map([[idOf(1), 1], [idOf(2), 2]]);
      }
    };
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(10);
    await inv.stop();
    expect(source.reads).toEqual([1, 3]);
    expect(store.tombstones).toEqual(new Map([[idOf(0), 9], [idOf(1), 10], [idOf(2), 8]]));
  });

  it('invalidator - a read that ends by itself (its consumer died) is read again from after the last applied event: the unapplied part of a batch is not lost', async () => {
    const store = new FakeStore();
    store.wm = 0;
    const source = new FakeSource(1, 10);
    source.endFirstReadAfter = 6;
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(10);
    await inv.stop();
    expect(source.reads).toEqual([1, 5]);
    expect(store.calls).toEqual(['invalidate 1-4', 'invalidate 5-8', 'invalidate 9-10']);
  });

  it('invalidator - a watermark older than the stream keeps: the cache is emptied twice, around the fill window, and restarts at the head', async () => {
    const store = new FakeStore();
    store.wm = 3;
    store.tombstones.set(idOf(1), 1);
    const source = new FakeSource(7, 10);
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(10);
    await inv.stop();
    expect(store.calls).toEqual(['deleteAll', 'deleteAll', 'reset 10']);
    expect(source.reads).toEqual([11]);
    expect(store.tombstones.size).toBe(0);
  });

  it('invalidator - Redis away: the same batch is retried until it is applied, never skipped', async () => {
    const store = new FakeStore();
    store.wm = 0;
    let failures = 3;
    store.beforeInvalidate = () => {
      if (failures-- > 0) throw new Error('ECONNREFUSED');
    };
    const source = new FakeSource(1, 4);
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(4);
    await inv.stop();
    expect(store.calls).toEqual(['invalidate 1-4']);
    expect(inv.position).toBe(4);
  });

  it('invalidator - an event that cannot be read drops its grant key and the batch still advances the watermark', async () => {
    const store = new FakeStore();
    store.wm = 0;
    const source = new FakeSource(1, 1, (seq) => ({ seq, subject: `grants.changed.${idOf(7)}`, data: encoder.encode('not json'), pending: 0 }));
    const inv = invalidator(store, source);
    inv.start();
    await store.reached(1);
    await inv.stop();
    expect(store.calls).toEqual([`drop ${idOf(7)}`, 'invalidate 1-1']);
  });
});
