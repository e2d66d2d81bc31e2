/**
 * What the relay does while it holds the publishing lock: drain the change log into stream
 * GRANTS, in order, through the two interfaces of outbox.ts.
 *
 * # Failure
 * A failed publish keeps the changes in the log; the leader backs off, reconciles with the
 * stream (creates it if it is gone, reads what reached it after the recorded position and
 * forgets those changes) and goes on, so a change is never published twice nor skipped. A
 * change-log (database) error ends the leadership: it propagates to relay.ts, which drops
 * the connection and the lock with it.
 *
 * # `seq` never goes back
 * A stream that ends below the recorded position was lost and recreated, or restored from
 * an older copy; `npm run restore` also records a position above everything issued. The
 * leader then moves the stream's end forward to the recorded position plus SEQUENCE_GAP
 * before it publishes: numbers that clients, the invalidator's watermark or REST pages
 * have seen are never issued again, and the jump puts every older position outside the
 * stream, so resuming clients get `recovered:false` and the cache is emptied. The gap
 * covers the one batch a relay may have published without recording it (a batch is
 * recorded before the next is sent: by the same statement that reads the next, `pass`).
 *
 * # Busy and idle
 * Busy, the leader polls the log every BUSY_POLL_MS and writers send no NOTIFY. After
 * LINGER_MS without changes it turns idle: it sets the flag that makes writers notify,
 * waits until every transaction that may have read "busy" has ended (the snapshot horizon
 * passes the xmax read after the flag committed), makes a last pass, and only then sleeps
 * until a wake-up or the safety timer. No change can be committed unseen between the last
 * pass and the sleep: its writer either read "idle" and notifies, or read "busy" and was
 * waited for.
 */
import { LogCode } from '../domain/codes.js';
import { backoffDelay } from '../domain/backoff.js';
import type { ChangeEvent } from '../domain/events.js';
import { GrantFromRow, type Grant } from '../domain/grant.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { reportError, reportRetrying } from '../observability/sentry.js';
import type { LoggedChange, Published, RelayState } from './changelog.js';
import type { ChangeLog, EventStream } from './outbox.js';
import { previousOf } from './previous.js';
import { ChainBrokenError, msgIdOf, type Outgoing } from './publisher.js';
import type { Wakeup } from './wakeup.js';

export interface LeaderOptions {
  /** RELAY_BATCH_SIZE. */
  batchSize: number;
  /** RELAY_SAFETY_POLL: while idle, pass over the log at least this often. */
  safetyPollMs: number;
}

/** Retry delays of a failed NATS step (full jitter, domain/backoff.ts). */
export const RELAY_BACKOFF = { baseMs: 100, maxMs: 5_000 };
/** Poll interval while busy: bounds the added lag when writers do not notify. */
const BUSY_POLL_MS = 5;
/** Quiet time after which the leader turns idle and relies on NOTIFY. */
const LINGER_MS = 250;
/**
 * How far past the recorded position a stream found behind it is moved: at least the
 * largest RELAY_BATCH_SIZE (config/schema.ts), the most a relay can have published past
 * the position it recorded.
 */
export const SEQUENCE_GAP = 10_000;

/** A step that failed on the NATS side: retried without giving up the leadership. */
class NatsStepError extends Error {
  override name = 'NatsStepError';
  constructor(cause: unknown) {
    super(cause instanceof ChainBrokenError ? cause.message : (cause as Error)?.message ?? String(cause), { cause });
  }
}

export class Leader {
  private failures = 0;
  /** Id of the stream's last message, which the next batch chains to (publisher.ts). */
  private lastMsgId: string | undefined;
  /**
   * The last batch the stream acknowledged, until the next read records it (the read and
   * the record are one statement: `ChangeLog.read`). At most one batch is ever here.
   */
  private unrecorded: Published | undefined;

  constructor(
    private readonly changes: ChangeLog,
    private readonly stream: EventStream,
    private readonly wakeup: Wakeup,
    private readonly options: LeaderOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Leads until stopped (the wake-up's `stopped`) or until the change log fails (thrown). */
  async run(): Promise<void> {
    const state = await this.changes.state();
    // NATS may be down while we take over: keep the lock and retry until it answers.
    for (let attempt = 0; !this.wakeup.stopped; attempt++) {
      try {
        await this.reconcile(state);
        break;
      } catch (err) {
        if (!(err instanceof NatsStepError)) throw err;
        this.log.warn({ code: LogCode.RelayPublishFailed, err: err.cause }, 'NATS not ready for the relay; retrying');
        reportRetrying(err.cause, LogCode.RelayPublishFailed, attempt + 1);
        await this.wakeup.pause(backoffDelay(attempt, RELAY_BACKOFF));
      }
    }
    await this.publishLoop(state);
    // Stopped: record the last batch now rather than leave it to the next leader's reconcile.
    await this.recordUnrecorded();
  }

  private async recordUnrecorded(): Promise<void> {
    if (!this.unrecorded) return;
    await this.changes.markPublished(this.unrecorded.logIds, this.unrecorded.streamSeq);
    this.unrecorded = undefined;
  }

  private async publishLoop(state: RelayState): Promise<void> {
    const step = async (): Promise<number> => {
      try {
        const n = await this.pass(state);
        this.failures = 0;
        return n;
      } catch (err) {
        if (!(err instanceof NatsStepError)) throw err;
        this.log.warn({ code: LogCode.RelayPublishFailed, err: err.cause }, 'publishing to NATS failed; will reconcile and retry');
        reportRetrying(err.cause, LogCode.RelayPublishFailed, this.failures + 1);
        await this.wakeup.pause(backoffDelay(this.failures++, RELAY_BACKOFF));
        await this.reconcile(state).catch((e: unknown) => {
          if (!(e instanceof NatsStepError)) throw e;
        });
        return -1;
      }
    };
    const wakeup = this.wakeup;
    await this.changes.setIdle(false);
    let lastChange = Date.now();
    while (!wakeup.stopped) {
      wakeup.clear();
      const n = await step();
      if (n === this.options.batchSize || n < 0) continue;
      if (n > 0) lastChange = Date.now();
      if (Date.now() - lastChange < LINGER_MS) {
        await wakeup.wait(BUSY_POLL_MS);
        continue;
      }
      // Turn idle.
      await this.changes.setIdle(true);
      this.log.debug({ code: LogCode.RelayIdle }, 'relay idle: writers notify');
      const horizon = await this.changes.currentXmax();
      while (!wakeup.stopped && !(await this.changes.horizonPassed(horizon))) {
        if ((await step()) !== 0) lastChange = Date.now();
        await wakeup.wait(BUSY_POLL_MS);
      }
      while (!wakeup.stopped) {
        const found = await step();
        if (found !== 0 || wakeup.dirty) break;
        await wakeup.wait(this.options.safetyPollMs);
      }
      await this.changes.setIdle(false);
      this.log.debug({ code: LogCode.RelayBusy }, 'relay busy: polling');
      lastChange = Date.now();
    }
  }

  /**
   * One pass: record the previous pass's batch and read the next in one statement, then
   * publish it. Returns how many it published. A pass that finds nothing has still recorded
   * the batch before it, so the leader never sleeps with one unrecorded.
   */
  private async pass(state: RelayState): Promise<number> {
    const changes = await this.changes.read(this.options.batchSize, this.unrecorded);
    this.unrecorded = undefined;
    if (changes.length === 0) return 0;
    const base = state.streamSeq;
    const batch = changes.map((change, i): Outgoing => ({ event: this.toEvent(change, base + i + 1), msgId: msgIdOf(state.epoch, change.logId) }));
    await this.onStream(() => this.stream.publish(base, this.lastMsgId, batch));
    const ackedAt = Date.now();
    this.unrecorded = { logIds: changes.map((c) => c.logId), streamSeq: base + changes.length };
    state.streamSeq = base + changes.length;
    this.lastMsgId = batch[batch.length - 1]!.msgId;
    this.metrics.relayStreamSeq.set(state.streamSeq);
    this.metrics.relayEventsPublished.inc(changes.length);
    for (const c of changes) this.metrics.relayLagHistogram.observe((ackedAt - c.changedAt.getTime()) / 1_000);
    this.metrics.relayLagSeconds.set((ackedAt - changes[changes.length - 1]!.changedAt.getTime()) / 1_000);
    return changes.length;
  }

  /**
   * Brings the recorded position and the stream together: forgets the changes that reached
   * the stream after the recorded position, or moves a stream that ends below it forward.
   */
  private async reconcile(state: RelayState): Promise<void> {
    // The tail is read after the recorded position, which is current here: a new leader has
    // published nothing, and a pass that failed on NATS recorded the batch before it in its read.
    await this.onStream(() => this.stream.ensure());
    const tail = await this.onStream(() => this.stream.tail(state.epoch, state.streamSeq));
    if (tail.lastSeq < state.streamSeq) {
      const to = state.streamSeq + SEQUENCE_GAP;
      this.log.error(
        { code: LogCode.RelayStreamBehind, recorded: state.streamSeq, stream: tail.lastSeq, continuesAfter: to },
        'stream GRANTS ends below the recorded position (lost, or restored from an older copy); moving it forward so that seq never goes back',
      );
      // The stream first: a crash in between leaves it ahead of the record, which the next
      // reconcile takes as it is.
      await this.onStream(() => this.stream.advance(to));
      await this.changes.markPublished([], to);
      state.streamSeq = to;
      this.lastMsgId = undefined;
    } else if (tail.lastSeq > state.streamSeq) {
      this.log.info({ code: LogCode.RelayReconciled, from: state.streamSeq, to: tail.lastSeq, found: tail.logIds.length }, 'reconciled with the stream');
      await this.changes.markPublished(tail.logIds, tail.lastSeq);
      state.streamSeq = tail.lastSeq;
      this.lastMsgId = tail.lastMsgId;
    } else {
      this.lastMsgId = tail.lastMsgId;
    }
    this.metrics.relayStreamSeq.set(state.streamSeq);
  }

  private async onStream<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new NatsStepError(err);
    }
  }

  private toEvent(change: LoggedChange, seq: number): ChangeEvent {
    const grant = change.row === null ? null : this.toGrant(change);
    const previous = previousOf(change.op, change.previous, grant);
    return {
      seq,
      op: change.op,
      id: change.grantId,
      version: change.version,
      grant,
      committedAt: change.changedAt.toISOString(),
      ...(previous === undefined ? {} : { previous }),
    };
  }

  private toGrant(change: LoggedChange): Grant {
    const parsed = GrantFromRow.safeParse(change.row);
    if (parsed.success) return parsed.data;
    // The table's constraints mirror the domain, so this means they have drifted apart.
    // Publishing the row as it is loses nothing; the error makes the drift visible.
    const err = new Error(`change ${change.logId} of grant ${change.grantId} does not match the Grant schema: ${parsed.error.message}`);
    this.log.error({ code: LogCode.RelayChangeInvalid, err }, 'published a change that fails the Grant schema');
    reportError(err, LogCode.RelayChangeInvalid);
    return change.row as unknown as Grant;
  }
}
