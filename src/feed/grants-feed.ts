/**
 * A process's view of stream GRANTS: a live feed from where the stream ended when the
 * feed started, and replays of a range for a resuming client. One per process that serves
 * clients; its listeners (the cache's freshness and in-process layer, REST's recent events,
 * the WebSocket gateway) each get every event, in stream order, in the order they were
 * added: the cache forgets a changed grant before any client can hear of the change.
 *
 * Frames are built once per event, not per client (domain/frames.ts `serverFrame.grant`).
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { LogCode } from '../domain/codes.js';
import { Streams, Subjects } from '../domain/events.js';
import { serverFrame } from '../domain/frames.js';
import type { Logger } from '../observability/log.js';
import { ensureGrantsStream, isNotFound } from '../bus/streams.js';
import type { ChangeFeed, FeedListener } from './types.js';

const decoder = new TextDecoder();
const SUBJECT_PREFIX = Subjects.grantChanged('');

export class GrantFeed implements ChangeFeed {
  /** Stream sequence of the last event handed to the listeners. */
  head = 0;
  /** True from `start` until the feed stops or fails. */
  live = false;
  private messages: ConsumerMessages | undefined;
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private done: Promise<void> | undefined;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private readonly listeners: FeedListener[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly maxAgeMs: number,
    private readonly log: Logger,
  ) {
    this.js = nc.jetstream();
  }

  /** Adds a listener; every listener is added before `start`. */
  onEvent(listener: FeedListener): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    this.jsm = await this.nc.jetstreamManager();
    await ensureGrantsStream(this.jsm, { maxAgeMs: this.maxAgeMs }, this.log);
    const info = await this.jsm.streams.info(Streams.grants);
    this.head = info.state.last_seq;
    // An ordered consumer: it recreates itself after NATS restarts and carries on from the
    // last sequence it delivered, so the feed has no gap and no repeat.
    const consumer = await this.js.consumers.get(Streams.grants, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.head + 1 });
    this.messages = await consumer.consume({ max_messages: 1_024 });
    const messages = this.messages;
    this.live = true;
    this.done = (async () => {
      try {
        for await (const m of messages) {
          this.head = m.seq;
          const json = decoder.decode(m.data);
          const event = { seq: m.seq, id: m.subject.slice(SUBJECT_PREFIX.length), json, frame: serverFrame.grant(json) };
          for (const listener of this.listeners) listener(event);
          if (this.waiters.length) this.release();
        }
      } catch (err) {
        this.log.error({ code: LogCode.GatewayFeedFailed, err }, 'GRANTS feed stopped');
      } finally {
        this.live = false;
      }
    })();
  }

  /**
   * The stream moved forward past `seq` with nothing in between (feed/continuity.ts saw
   * its first sequence jump): the feed's position is `seq` from now on, so that positions
   * before it are outside the stream for resuming clients and REST.
   */
  skipTo(seq: number): void {
    if (seq <= this.head) return;
    this.head = seq;
    if (this.waiters.length) this.release();
  }

  /** Resolves once the feed delivered `seq`, or after `timeoutMs` regardless. */
  reached(seq: number, timeoutMs: number): Promise<void> {
    if (this.head >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = { seq, resolve: done };
      this.waiters.push(waiter);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private release(): void {
    const ready = this.waiters.filter((w) => w.seq <= this.head);
    this.waiters = this.waiters.filter((w) => w.seq > this.head);
    for (const w of ready) w.resolve();
  }

  /** First sequence still held by the stream (older ones expired). */
  async firstSeq(): Promise<number> {
    const info = await this.jsm!.streams.info(Streams.grants);
    return info.state.first_seq;
  }

  async replay(topic: string, since: number, until: number, each: (json: string, seq: number) => boolean): Promise<boolean> {
    if (until <= since) return true;
    const subject = topic === 'grants' ? undefined : Subjects.grantChanged(topic.slice('grant:'.length));
    if (subject) {
      // Nothing to wait for when the grant's last event is not after `since`.
      const last = await this.jsm!.streams.getMessage(Streams.grants, { last_by_subj: subject }).catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (!last || last.seq <= since) return true;
    }
    const consumer = await this.js.consumers.get(Streams.grants, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: since + 1,
      ...(subject ? { filterSubjects: subject } : {}),
    });
    const messages = await consumer.consume({ max_messages: 512 });
    try {
      for await (const m of messages) {
        if (m.seq > until) return true;
        if (!each(decoder.decode(m.data), m.seq)) return false;
        if (m.seq >= until || m.info.pending === 0) return true;
      }
      return true;
    } finally {
      messages.stop();
      await consumer.delete().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.messages?.stop();
    await this.done;
  }
}
