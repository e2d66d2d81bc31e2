/**
 * The `relay` role: committed changes of `grants` -> stream GRANTS, exactly once, in
 * commit order.
 *
 * # Lifecycle
 * Every relay process campaigns for one Postgres advisory lock on a dedicated connection.
 * The holder publishes; the others retry every RELAY_LEADER_POLL. The lock lives and dies
 * with that connection, so a relay that is killed or loses its database stops being the
 * publisher at once and a standby takes over on its next try. The leader reads and
 * deletes the log on the same connection: it cannot act on the log without the lock.
 *
 * # Wake-ups
 * NOTIFY (through pg-listen, on a second connection) only wakes the leader; each wake-up,
 * each (re)connect of the listener and a slow safety timer trigger a pass over the log,
 * which is the source of truth. A notification lost while disconnected costs nothing.
 *
 * # Failure
 * A failed publish keeps the changes in the log; the leader backs off, reconciles with
 * the stream (publisher.ts) and goes on. A database error ends the leadership: the
 * connection is closed (releasing the lock) and the process campaigns again.
 */
import pgListen, { type Subscriber } from 'pg-listen';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type pg from 'pg';
import { LogCode } from '../domain/codes.js';
import { GrantFromRow, type Grant } from '../domain/grant.js';
import type { ChangeEvent } from '../domain/events.js';
import { createClient } from '../db/pool.js';
import { ensureGrantsStream } from '../bus/streams.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { reportError } from '../observability/sentry.js';
import { NOTIFY_CHANNEL, currentXmax, horizonPassed, markPublished, readBatch, readState, setRelayIdle, type LoggedChange, type RelayState } from './changelog.js';
import { ChainBrokenError, msgIdOf, publishChain, readStreamTail, type Outgoing } from './publisher.js';

export interface RelayOptions {
  databaseUrl: string;
  batchSize: number;
  leaderPollMs: number;
  maxAgeMs: number;
  /** While idle, pass over the log at least this often even without a wake-up. */
  safetyPollMs: number;
  publishTimeoutMs?: number;
}

/** Advisory lock key (two int4 halves) held by the publishing relay. */
export const RELAY_LOCK: readonly [number, number] = [0x4e494d50, 2];

const MAX_BACKOFF_MS = 5_000;
/** Poll interval while busy: bounds the added lag when writers do not notify. */
const BUSY_POLL_MS = 5;
/** Quiet time after which the leader turns idle and relies on NOTIFY. */
const LINGER_MS = 250;
const backoff = (attempt: number) => Math.min(MAX_BACKOFF_MS, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

export class Relay {
  private stopped = false;
  private dirty = true;
  private wakeUp: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly options: RelayOptions,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.js = nc.jetstream();
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.running;
  }

  private kick(): void {
    this.dirty = true;
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  /** Resolves after `ms`, or at once when kicked; `dirty` tells which. */
  private wait(ms: number): Promise<void> {
    if (this.dirty || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async pause(ms: number): Promise<void> {
    this.dirty = false;
    await this.wait(ms);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const startedAt = Date.now();
      const client = createClient(this.options.databaseUrl, 'navimpact-relay');
      client.on('error', (err) => {
        this.log.warn({ code: LogCode.RelayDatabaseError, err }, 'relay database connection failed');
        this.kick();
      });
      try {
        await client.connect();
        await this.campaign(client);
      } catch (err) {
        if (!this.stopped) this.log.warn({ code: LogCode.RelayDatabaseError, err }, 'relay lost its database connection; campaigning again');
      } finally {
        this.metrics.relayLeader.set(0);
        await client.end().catch(() => undefined);
      }
      // Only a leadership or stand-by that lasted earns a quick retry: one that keeps failing
      // at once (a missing table, a refused login) backs off to MAX_BACKOFF_MS.
      if (Date.now() - startedAt > 30_000) attempt = 0;
      if (!this.stopped) await this.pause(backoff(attempt++));
    }
  }

  private async campaign(client: pg.Client): Promise<void> {
    let announced = false;
    while (!this.stopped) {
      const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [...RELAY_LOCK]);
      if (rows[0]?.got) {
        this.log.info({ code: LogCode.RelayLeaderAcquired }, 'relay is the publisher');
        this.metrics.relayLeader.set(1);
        try {
          await this.lead(client);
        } finally {
          if (!this.stopped) this.log.warn({ code: LogCode.RelayLeaderLost }, 'relay stopped publishing');
        }
        return;
      }
      if (!announced) this.log.info({ code: LogCode.RelayStandby }, 'another relay is publishing; standing by');
      announced = true;
      await this.pause(this.options.leaderPollMs);
    }
  }

  private async lead(client: pg.Client): Promise<void> {
    const listener = await this.listen();
    try {
      this.jsm ??= await this.nc.jetstreamManager();
      const state = await readState(client);
      // NATS may be down while we take over: keep the lock and retry until it answers.
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await ensureGrantsStream(this.jsm, { maxAgeMs: this.options.maxAgeMs, firstSeq: state.streamSeq + 1 }, this.log).catch((err: unknown) => {
            throw new NatsStepError(err);
          });
          await this.reconcile(client, state);
          break;
        } catch (err) {
          if (!(err instanceof NatsStepError)) throw err;
          this.log.warn({ code: LogCode.RelayPublishFailed, err: err.cause }, 'NATS not ready for the relay; retrying');
          await this.pause(backoff(attempt));
        }
      }
      await this.publishLoop(client, state);
    } finally {
      await listener.close().catch(() => undefined);
    }
  }

  /**
   * Busy, the leader polls the log every BUSY_POLL_MS and writers send no NOTIFY. After
   * LINGER_MS without changes it turns idle: it sets the flag that makes writers notify,
   * waits until every transaction that may have read "busy" has ended (the snapshot
   * horizon passes the xmax read after the flag committed), makes a last pass, and only
   * then sleeps until a NOTIFY, a listener reconnect or the safety timer. No change can be
   * committed unseen between the last pass and the sleep: its writer either read "idle"
   * and notifies, or read "busy" and was waited for.
   */
  private async publishLoop(client: pg.Client, state: RelayState): Promise<void> {
    const step = async (): Promise<number> => {
      try {
        const n = await this.pass(client, state);
        this.failures = 0;
        return n;
      } catch (err) {
        if (!(err instanceof NatsStepError)) throw err;
        this.log.warn({ code: LogCode.RelayPublishFailed, err: err.cause }, 'publishing to NATS failed; will reconcile and retry');
        await this.pause(backoff(this.failures++));
        await this.reconcile(client, state).catch((e: unknown) => {
          if (!(e instanceof NatsStepError)) throw e;
        });
        return -1;
      }
    };
    await setRelayIdle(client, false);
    let lastChange = Date.now();
    while (!this.stopped) {
      this.dirty = false;
      const n = await step();
      if (n === this.options.batchSize || n < 0) continue;
      if (n > 0) lastChange = Date.now();
      if (Date.now() - lastChange < LINGER_MS) {
        await this.wait(BUSY_POLL_MS);
        continue;
      }
      // Turn idle.
      await setRelayIdle(client, true);
      this.log.debug({ code: LogCode.RelayIdle }, 'relay idle: writers notify');
      const horizon = await currentXmax(client);
      while (!this.stopped && !(await horizonPassed(client, horizon))) {
        if ((await step()) !== 0) lastChange = Date.now();
        await this.wait(BUSY_POLL_MS);
      }
      while (!this.stopped) {
        const found = await step();
        if (found !== 0 || this.dirty) break;
        await this.wait(this.options.safetyPollMs);
      }
      await setRelayIdle(client, false);
      this.log.debug({ code: LogCode.RelayBusy }, 'relay busy: polling');
      lastChange = Date.now();
    }
  }

  private async listen(): Promise<Subscriber> {
    // pg-listen is CommonJS with an ES-style default export.
    const listener = pgListen.default(
      { connectionString: this.options.databaseUrl, application_name: 'navimpact-relay-listen', keepAlive: true },
      { retryTimeout: Infinity, retryInterval: (n) => Math.min(MAX_BACKOFF_MS, 100 * 2 ** n), paranoidChecking: 10_000 },
    );
    listener.notifications.on(NOTIFY_CHANNEL, () => this.kick());
    // After a reconnect, changes committed while disconnected are in the log, not in any
    // notification: the kick makes the leader read the log again.
    listener.events.on('connected', () => this.kick());
    listener.events.on('reconnect', (attempt) => this.log.warn({ code: LogCode.RelayListenError, attempt }, 'change listener reconnecting'));
    listener.events.on('error', (err) => this.log.error({ code: LogCode.RelayListenError, err }, 'change listener failed'));
    try {
      await listener.connect();
      await listener.listenTo(NOTIFY_CHANNEL);
    } catch (err) {
      await listener.close().catch(() => undefined);
      throw err;
    }
    return listener;
  }

  /** One pass: publish up to a batch of the oldest changes. Returns how many. */
  private async pass(client: pg.Client, state: RelayState): Promise<number> {
    const changes = await readBatch(client, this.options.batchSize);
    if (changes.length === 0) return 0;
    const base = state.streamSeq;
    const batch = changes.map((change, i): Outgoing => ({ event: this.toEvent(change, base + i + 1), msgId: msgIdOf(state.epoch, change.logId) }));
    try {
      await publishChain(this.js, base, batch, this.options.publishTimeoutMs ?? 5_000);
    } catch (err) {
      throw new NatsStepError(err);
    }
    const ackedAt = Date.now();
    await markPublished(client, changes.map((c) => c.logId), base + changes.length);
    state.streamSeq = base + changes.length;
    this.metrics.relayEventsPublished.inc(changes.length);
    for (const c of changes) this.metrics.relayLagHistogram.observe((ackedAt - c.changedAt.getTime()) / 1_000);
    this.metrics.relayLagSeconds.set((ackedAt - changes[changes.length - 1]!.changedAt.getTime()) / 1_000);
    return changes.length;
  }

  /** Forgets the changes that reached the stream after the recorded position. */
  private async reconcile(client: pg.Client, state: RelayState): Promise<void> {
    let tail;
    try {
      tail = await readStreamTail(this.jsm!, state.epoch, state.streamSeq);
    } catch (err) {
      throw new NatsStepError(err);
    }
    if (tail.lastSeq === state.streamSeq) return;
    if (tail.lastSeq < state.streamSeq) {
      this.log.error(
        { code: LogCode.RelayStreamBehind, recorded: state.streamSeq, stream: tail.lastSeq },
        'stream GRANTS is behind the recorded position (recreated or restored?); continuing from its end',
      );
    } else {
      this.log.info({ code: LogCode.RelayReconciled, from: state.streamSeq, to: tail.lastSeq, found: tail.logIds.length }, 'reconciled with the stream');
    }
    await markPublished(client, tail.logIds, tail.lastSeq);
    state.streamSeq = tail.lastSeq;
  }

  private toEvent(change: LoggedChange, seq: number): ChangeEvent {
    return {
      seq,
      op: change.op,
      id: change.grantId,
      version: change.version,
      grant: change.row === null ? null : this.toGrant(change),
      committedAt: change.changedAt.toISOString(),
    };
  }

  private toGrant(change: LoggedChange): Grant {
    const parsed = GrantFromRow.safeParse(change.row);
    if (parsed.success) return parsed.data;
    // The table's constraints mirror the domain, so this means they have drifted apart.
    // Publishing the row as it is loses nothing; the error makes the drift visible.
    const err = new Error(`change ${change.logId} of grant ${change.grantId} does not match the Grant schema: ${parsed.error.message}`);
    this.log.error({ code: LogCode.RelayChangeInvalid, err }, 'published a change that fails the Grant schema');
    reportError(err);
    return change.row as unknown as Grant;
  }
}

/** A step that failed on the NATS side: retried without giving up the leadership. */
class NatsStepError extends Error {
  override name = 'NatsStepError';
  constructor(cause: unknown) {
    super(cause instanceof ChainBrokenError ? cause.message : (cause as Error)?.message ?? String(cause), { cause });
  }
}
