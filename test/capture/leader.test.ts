/**
 * The relay's leader loop without servers: the change log and the stream are in-memory
 * fakes behind the interfaces of capture/outbox.ts, so failures can be placed exactly where
 * the real-server tests (relay.test.ts, faults.test.ts) can only hope to hit them.
 */
import { describe, expect, it } from 'vitest';
import type { LoggedChange, Published, RelayState } from '../../src/capture/changelog.js';
import { Leader, SEQUENCE_GAP } from '../../src/capture/leader.js';
import type { ChangeLog, EventStream } from '../../src/capture/outbox.js';
import type { Outgoing, StreamTail } from '../../src/capture/publisher.js';
import { Wakeup } from '../../src/capture/wakeup.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { testLog } from '../support/log.js';

const EPOCH = 'e1';

function change(n: number): LoggedChange {
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return { logId: String(n), op: 'delete', grantId: id, version: 2, row: null, previous: null, changedAt: new Date() };
}

/** The change log in memory; `trace` records every call in order. */
class FakeLog implements ChangeLog {
  pending: LoggedChange[] = [];
  readonly trace: string[] = [];
  readonly relay: RelayState = { epoch: EPOCH, streamSeq: 0 };
  /** Answers of `horizonPassed`, in order; afterwards true. */
  horizons: (() => boolean)[] = [];

  async state() {
    return { ...this.relay };
  }
  async read(limit: number, published?: Published) {
    // One statement in the real log: the record first, then the read.
    if (published) this.record(published.logIds, published.streamSeq);
    this.trace.push(published ? `read, recording ${published.logIds.join(',')} @${published.streamSeq}` : 'read');
    return this.pending.slice(0, limit);
  }
  async markPublished(logIds: readonly string[], streamSeq: number) {
    this.trace.push(`mark ${logIds.join(',')} @${streamSeq}`);
    this.record(logIds, streamSeq);
  }
  private record(logIds: readonly string[], streamSeq: number) {
    this.pending = this.pending.filter((c) => !logIds.includes(c.logId));
    this.relay.streamSeq = streamSeq;
  }
  async setIdle(idle: boolean) {
    this.trace.push(idle ? 'idle' : 'busy');
  }
  async currentXmax() {
    this.trace.push('xmax');
    return '100';
  }
  async horizonPassed() {
    const passed = (this.horizons.shift() ?? (() => true))();
    this.trace.push(`horizon ${passed}`);
    return passed;
  }
}

/**
 * Stream GRANTS in memory, with the chain check of the real one (the last message id), a
 * purge that moves its end forward, and an optional failure after part of a batch.
 */
class FakeStream implements EventStream {
  readonly stored: { seq: number; msgId: string; id: string }[] = [];
  /** Sequence of the last message, kept through a purge. */
  end = 0;
  /** The next publish stores this many messages, then fails as a lost acknowledgement would. */
  failAfter: number | undefined;
  private lastMsgId: string | undefined;
  private waiters: { count: number; resolve: () => void }[] = [];

  async ensure() {}
  async publish(base: number, lastMsgId: string | undefined, batch: readonly Outgoing[]) {
    if (lastMsgId !== undefined && lastMsgId !== this.lastMsgId) throw new Error(`wrong last msg id: ${this.lastMsgId}`);
    const limit = this.failAfter ?? batch.length;
    this.failAfter = undefined;
    for (const [i, o] of batch.slice(0, limit).entries()) {
      this.end += 1;
      this.lastMsgId = o.msgId;
      expect(o.event.seq).toBe(this.end);
      expect(o.event.seq).toBe(base + i + 1);
      this.stored.push({ seq: this.end, msgId: o.msgId, id: o.event.id });
    }
    this.wake();
    if (limit < batch.length) throw new Error('ack timeout');
  }
  async tail(epoch: string, after: number): Promise<StreamTail> {
    const logIds = this.stored.filter((m) => m.seq > after && m.msgId.startsWith(`${epoch}:`)).map((m) => m.msgId.slice(epoch.length + 1));
    return { lastSeq: this.end, logIds, lastMsgId: this.stored.at(-1)?.msgId };
  }
  async advance(lastSeq: number) {
    this.stored.length = 0;
    this.end = lastSeq;
  }
  /** Resolves once the stream holds `count` messages. */
  holds(count: number): Promise<void> {
    if (this.stored.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
  private wake() {
    for (const w of this.waiters.filter((w) => this.stored.length >= w.count)) w.resolve();
  }
}

function leader(log: FakeLog, stream: FakeStream, wakeup: Wakeup, batchSize = 100): Leader {
  // A safety poll longer than any test: only the loop's own rules may find a change.
  return new Leader(log, stream, wakeup, { batchSize, safetyPollMs: 3_600_000 }, testLog, createMetrics());
}

describe('relay leader', () => {
  it('relay leader - a batch that half reached the stream is reconciled: each change once, in log order', async () => {
    const log = new FakeLog();
    const stream = new FakeStream();
    log.pending = Array.from({ length: 10 }, (_, i) => change(i + 1));
    stream.failAfter = 4;
    const wakeup = new Wakeup();
    const running = leader(log, stream, wakeup, 6).run();
    await stream.holds(10);
    wakeup.stop();
    await running;
    expect(stream.stored.map((m) => m.msgId)).toEqual(Array.from({ length: 10 }, (_, i) => `${EPOCH}:${i + 1}`));
    expect(log.pending).toEqual([]);
    expect(log.relay.streamSeq).toBe(10);
    // The four that reached the stream were forgotten by reconcile, not published again.
    expect(log.trace).toContain('mark 1,2,3,4 @4');
  });

  it('relay leader - turning idle waits for the horizon and makes a last pass: a change from a writer that read "busy" is published without a wake-up', async () => {
    const log = new FakeLog();
    const stream = new FakeStream();
    log.pending = [change(1)];
    const late = change(2);
    // The horizon has not passed yet: a writer that read "busy" commits now and sends no NOTIFY.
    log.horizons = [
      () => {
        log.pending.push(late);
        return false;
      },
    ];
    const wakeup = new Wakeup();
    const running = leader(log, stream, wakeup).run();
    await stream.holds(2);
    wakeup.stop();
    await running;
    expect(stream.stored.map((m) => m.msgId)).toEqual([`${EPOCH}:1`, `${EPOCH}:2`]);
    const idle = log.trace.indexOf('idle');
    expect(idle).toBeGreaterThan(0);
    expect(log.trace.slice(idle, idle + 3)).toEqual(['idle', 'xmax', 'horizon false']);
  });

  it('relay leader - a stream behind the recorded position (lost or restored) is moved forward: seq never goes back', async () => {
    const log = new FakeLog();
    const stream = new FakeStream();
    // The record says 5 events were issued; the stream was recreated and holds 2 of another run.
    log.relay.streamSeq = 5;
    stream.end = 2;
    log.pending = [change(6)];
    const wakeup = new Wakeup();
    const running = leader(log, stream, wakeup).run();
    await stream.holds(1);
    wakeup.stop();
    await running;
    const moved = 5 + SEQUENCE_GAP;
    expect(log.trace[0]).toBe(`mark  @${moved}`);
    expect(stream.stored).toEqual([{ seq: moved + 1, msgId: `${EPOCH}:6`, id: change(6).grantId }]);
    expect(log.relay.streamSeq).toBe(moved + 1);
  });

  it('relay leader - each batch is recorded before the next is sent, by the read of the next: one call to the log a pass', async () => {
    const log = new FakeLog();
    const stream = new FakeStream();
    log.pending = Array.from({ length: 7 }, (_, i) => change(i + 1));
    // What the log had recorded when each batch was sent.
    const recordedAtSend: number[] = [];
    const publish = stream.publish.bind(stream);
    const bases: number[] = [];
    stream.publish = async (base, lastMsgId, batch) => {
      // Asserted after the run: the leader takes a throw here for a NATS failure and retries.
      recordedAtSend.push(log.relay.streamSeq);
      bases.push(base);
      return publish(base, lastMsgId, batch);
    };
    const wakeup = new Wakeup();
    const running = leader(log, stream, wakeup, 3).run();
    await stream.holds(7);
    wakeup.stop();
    await running;
    expect(recordedAtSend).toEqual([0, 3, 6]);
    expect(bases).toEqual(recordedAtSend);
    // Each batch recorded by the read that follows it; the last by the next read or, stopped
    // first, as the leader returns.
    expect(log.trace.slice(0, 4)).toEqual(['busy', 'read', 'read, recording 1,2,3 @3', 'read, recording 4,5,6 @6']);
    expect(log.trace.filter((t) => t.startsWith('mark'))).toEqual(log.trace.at(-1) === 'mark 7 @7' ? ['mark 7 @7'] : []);
    expect(log.pending).toEqual([]);
    expect(log.relay.streamSeq).toBe(7);
  });

  it('relay leader - a leader stopped right after a publish records that batch before it returns', async () => {
    const log = new FakeLog();
    const stream = new FakeStream();
    log.pending = [change(1), change(2)];
    const wakeup = new Wakeup();
    // Stop as the batch is stored: the loop ends before any read could record it.
    const publish = stream.publish.bind(stream);
    stream.publish = async (base, lastMsgId, batch) => {
      await publish(base, lastMsgId, batch);
      wakeup.stop();
    };
    await leader(log, stream, wakeup).run();
    expect(stream.stored.map((m) => m.msgId)).toEqual([`${EPOCH}:1`, `${EPOCH}:2`]);
    expect(log.trace.at(-1)).toBe('mark 1,2 @2');
    expect(log.pending).toEqual([]);
    expect(log.relay.streamSeq).toBe(2);
  });
});
