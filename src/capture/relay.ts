/**
 * The `relay` role: committed changes of `grants` -> stream GRANTS, exactly once, in
 * commit order.
 *
 * # Lifecycle
 * Every relay process campaigns for one Postgres advisory lock on a dedicated connection.
 * The holder publishes (leader.ts); the others retry every RELAY_LEADER_POLL. The lock lives
 * and dies with that connection, so a relay that is killed or loses its database stops
 * being the publisher at once and a standby takes over on its next try. The leader reads
 * and deletes the log on the same connection: it cannot act on the log without the lock.
 *
 * # Wake-ups
 * NOTIFY (through pg-listen, on a second connection) only wakes the leader; each wake-up,
 * each (re)connect of the listener and a slow safety timer trigger a pass over the log,
 * which is the source of truth. A notification lost while disconnected costs nothing.
 *
 * # Failure
 * A database error ends the leadership: the connection is closed (releasing the lock) and
 * the process campaigns again, backing off while it keeps failing at once.
 */
import pgListen, { type Subscriber } from 'pg-listen';
import type { NatsConnection } from 'nats';
import type pg from 'pg';
import { createClient } from '../db/pool.js';
import { backoffDelay } from '../domain/backoff.js';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { reportRetrying } from '../observability/sentry.js';
import type { Metrics } from '../observability/metrics.js';
import { NOTIFY_CHANNEL } from './changelog.js';
import { Leader, RELAY_BACKOFF } from './leader.js';
import { natsEventStream, pgChangeLog, type EventStream } from './outbox.js';
import { Wakeup } from './wakeup.js';

export interface RelayOptions {
  databaseUrl: string;
  batchSize: number;
  leaderPollMs: number;
  maxAgeMs: number;
  /** NATS_STREAM_REPLICAS. */
  replicas: number;
  /** While idle, pass over the log at least this often even without a wake-up. */
  safetyPollMs: number;
  publishTimeoutMs?: number;
}

/** Advisory lock key (two int4 halves) held by the publishing relay. */
export const RELAY_LOCK: readonly [number, number] = [0x4e494d50, 2];

/** Deadline of one batch's acknowledgements by JetStream. */
const PUBLISH_TIMEOUT_MS = 5_000;
/** A leadership or stand-by that lasted this long earns a quick retry after it ends. */
const STABLE_MS = 30_000;

export class Relay {
  private readonly wakeup = new Wakeup();
  private running: Promise<void> | undefined;
  private stream: EventStream | undefined;
  /** True while this process holds the publishing lock. */
  leading = false;

  constructor(
    private readonly options: RelayOptions,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.wakeup.stop();
    await this.running;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.wakeup.stopped) {
      const startedAt = Date.now();
      const client = createClient(this.options.databaseUrl, 'navimpact-relay');
      client.on('error', (err) => {
        this.log.warn({ code: LogCode.RelayDatabaseError, err }, 'relay database connection failed');
        this.wakeup.kick();
      });
      try {
        await client.connect();
        await this.campaign(client);
      } catch (err) {
        if (!this.wakeup.stopped) {
          this.log.warn({ code: LogCode.RelayDatabaseError, err }, 'relay lost its database connection; campaigning again');
          reportRetrying(err, LogCode.RelayDatabaseError, attempt + 1);
        }
      } finally {
        this.leading = false;
        this.metrics.relayLeader.set(0);
        await client.end().catch(() => undefined);
      }
      // Only a leadership or stand-by that lasted earns a quick retry: one that keeps failing
      // at once (a missing table, a refused login) backs off to the cap.
      if (Date.now() - startedAt > STABLE_MS) attempt = 0;
      if (!this.wakeup.stopped) await this.wakeup.pause(backoffDelay(attempt++, RELAY_BACKOFF));
    }
  }

  private async campaign(client: pg.Client): Promise<void> {
    let announced = false;
    while (!this.wakeup.stopped) {
      const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [...RELAY_LOCK]);
      if (rows[0]?.got) {
        this.log.info({ code: LogCode.RelayLeaderAcquired }, 'relay is the publisher');
        this.leading = true;
        this.metrics.relayLeader.set(1);
        try {
          await this.lead(client);
        } finally {
          if (!this.wakeup.stopped) this.log.warn({ code: LogCode.RelayLeaderLost }, 'relay stopped publishing');
        }
        return;
      }
      if (!announced) this.log.info({ code: LogCode.RelayStandby }, 'another relay is publishing; standing by');
      announced = true;
      await this.wakeup.pause(this.options.leaderPollMs);
    }
  }

  private async lead(client: pg.Client): Promise<void> {
    const listener = await this.listen();
    try {
      this.stream ??= natsEventStream(
        this.nc.jetstream(),
        await this.nc.jetstreamManager(),
        { maxAgeMs: this.options.maxAgeMs, replicas: this.options.replicas, publishTimeoutMs: this.options.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS },
        this.log,
      );
      const leader = new Leader(pgChangeLog(client), this.stream, this.wakeup, { batchSize: this.options.batchSize, safetyPollMs: this.options.safetyPollMs }, this.log, this.metrics);
      await leader.run();
    } finally {
      await listener.close().catch(() => undefined);
    }
  }

  private async listen(): Promise<Subscriber> {
    // pg-listen is CommonJS with an ES-style default export.
    const listener = pgListen.default(
      { connectionString: this.options.databaseUrl, application_name: 'navimpact-relay-listen', keepAlive: true },
      { retryTimeout: Infinity, retryInterval: (n) => Math.min(RELAY_BACKOFF.maxMs, RELAY_BACKOFF.baseMs * 2 ** n), paranoidChecking: 10_000 },
    );
    listener.notifications.on(NOTIFY_CHANNEL, () => this.wakeup.kick());
    // After a reconnect, changes committed while disconnected are in the log, not in any
    // notification: the kick makes the leader read the log again.
    listener.events.on('connected', () => this.wakeup.kick());
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
}
