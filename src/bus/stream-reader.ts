/**
 * Reads a stream in order from a sequence through an ephemeral pull consumer of its own,
 * and ends by itself, saying why (`failure`), as soon as that consumer cannot be trusted to
 * go on: its owner (the gateway's feed, the invalidator) then opens a new reader from the
 * sequence after the last it handled (a replay for a resuming client too, three readers at
 * most). The reader never skips or repeats a message.
 *
 * nats.js's ordered consumer does the same job, but it was seen stalling for 30 s, once for
 * more than a minute, after the cluster node holding it was killed (test/deploy/
 * nats-cluster.test.ts): the client library stops watching heartbeats while disconnected
 * and then asks after the dead consumer until a request finally says it is gone. Its own
 * recreation loop cannot be called off either, so a consumer recreated after its reader
 * was stopped would deliver the stream to nobody. Here the consumer is ours to delete.
 *
 * # When a reader ends (failure)
 * - Two server heartbeats missed in a row (JetStream sends one every half of `expires`).
 * - The consumer or the stream is gone (the library's `abort_on_missing_resource`).
 * - A delivery out of sequence: a message was lost in flight (a reconnect).
 * - A stall: the owner has waited `stallMs` for a message while the stream holds one after
 *   the last delivered, at two checks in a row (asked of the stream only while the owner
 *   waits that long: a busy owner costs nothing, an idle stream one "next message after"
 *   request a second). One check is not enough: after a quiet spell the owner has waited
 *   long, and a message published an instant before a check is found in the stream while
 *   it is still on its way to the consumer.
 *
 * # Lifecycle
 * `open` creates the consumer and starts pulling; iterate once; `stop` ends the iteration
 * and deletes the consumer (best effort: an ephemeral consumer also goes by itself after
 * INACTIVE_MS without a pull, e.g. when its process dies). Idempotent.
 */
import { AckPolicy, ConsumerEvents, DeliverPolicy, nanos, type ConsumerMessages, type JetStreamManager, type JsMsg, type MsgRequest, type NatsConnection } from 'nats';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { PULL_EXPIRES_MS } from './nats.js';
import { isNotFound } from './streams.js';

/** How long the owner may wait for a message the stream already holds before the reader ends. */
export const STALL_MS = 3_000;
/** Heartbeats missed in a row after which the reader ends. */
const MISSED_HEARTBEATS = 2;
/**
 * Deadline of the reader's own JetStream requests (create and delete its consumer, the
 * stall check's get of the next message). While a lost node's place is being taken, requests go
 * unanswered: a short deadline asks again sooner once the cluster answers (nats.js's
 * default, 5 s, added up to 5 s to the feed's pause in test/deploy/nats-cluster.test.ts).
 */
const REQUEST_TIMEOUT_MS = 2_000;
/** A consumer nobody pulls from for this long is removed by the server. */
const INACTIVE_MS = 60_000;
/** The library's notices worth a log line (its debug events are not). */
const NOTICES = new Set<string>(Object.values(ConsumerEvents));

export class StreamReaderError extends Error {
  override name = 'StreamReaderError';
}

export interface StreamReaderOptions {
  /** Messages the server hands over ahead of the owner. */
  prefetch: number;
  /** Who reads, for the log (`gateway feed`, `invalidator`, `replay`). */
  reader: string;
  log: Logger;
  /** Only the messages of this subject (a replay of one grant). */
  filterSubject?: string;
  /** Overrides STALL_MS (tests). */
  stallMs?: number;
}

export class StreamReader implements AsyncIterable<JsMsg> {
  /** Why the reader ended by itself; undefined while it runs or after `stop`. */
  failure: StreamReaderError | undefined;
  /** Stream sequence of the last message handed to the owner. */
  position: number;
  /** Stall checks that asked the stream (tests await them). */
  stallChecks = 0;
  private delivered = 0;
  /** Since when the owner waits for the next message; undefined while it handles one. */
  private waitingSince: number | undefined;
  private checking = false;
  /** The wait in which the last check found a message the owner had not been handed. */
  private suspect: { waitingSince: number; position: number } | undefined;
  private stopped = false;
  private ended = false;
  private readonly timer: NodeJS.Timeout;
  private readonly stallMs: number;

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    /** The consumer's name. */
    readonly consumer: string,
    private readonly messages: ConsumerMessages,
    from: number,
    private readonly options: StreamReaderOptions,
  ) {
    this.position = from - 1;
    this.stallMs = options.stallMs ?? STALL_MS;
    this.timer = setInterval(() => void this.check(), Math.max(100, this.stallMs / 3));
    this.timer.unref();
    void this.watch();
  }

  /** A reader of `stream` from sequence `from` (a sequence past the end waits for it). */
  static async open(nc: NatsConnection, stream: string, from: number, options: StreamReaderOptions): Promise<StreamReader> {
    const jsm = await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS, checkAPI: false });
    const info = await jsm.consumers.add(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, from),
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS),
      ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
    });
    try {
      // From the info of the create: no second request (the watch below covers a consumer gone).
      const consumer = nc.jetstream({ timeout: REQUEST_TIMEOUT_MS }).consumers.getPullConsumerFor(info);
      const messages = await consumer.consume({ max_messages: options.prefetch, expires: PULL_EXPIRES_MS, abort_on_missing_resource: true });
      return new StreamReader(jsm, stream, info.name, messages, from, options);
    } catch (err) {
      await jsm.consumers.delete(stream, info.name).catch(() => undefined);
      throw err;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    const source = this.messages[Symbol.asyncIterator]();
    try {
      for (;;) {
        this.waitingSince = Date.now();
        let next: IteratorResult<JsMsg>;
        try {
          next = await source.next();
        } catch (err) {
          this.fail(`the consumer failed: ${(err as Error).message}`);
          return;
        }
        this.waitingSince = undefined;
        if (next.done || this.stopped || this.failure) return;
        const m = next.value;
        if (m.info.deliverySequence !== this.delivered + 1) {
          this.fail(`delivery ${m.info.deliverySequence} came after ${this.delivered}: a message was lost in flight`);
          return;
        }
        this.delivered++;
        this.position = m.seq;
        yield m;
      }
    } finally {
      this.waitingSince = undefined;
      this.end();
    }
  }

  /** Ends the iteration and deletes the consumer. */
  stop(): void {
    this.stopped = true;
    this.end();
  }

  private fail(reason: string): void {
    if (this.stopped || this.failure) return;
    this.failure = new StreamReaderError(`${this.options.reader}: ${reason} (stream ${this.stream}, consumer ${this.consumer}, position ${this.position})`);
    this.options.log.warn({ code: LogCode.StreamReaderEnded, reader: this.options.reader, stream: this.stream, consumer: this.consumer, position: this.position, reason }, 'stream reader ended; its owner reads on from the position');
    this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    this.messages.stop();
    void this.jsm.consumers.delete(this.stream, this.consumer).catch(() => undefined);
  }

  /** The library's notices: logged; missed heartbeats end the reader. */
  private async watch(): Promise<void> {
    try {
      for await (const status of await this.messages.status()) {
        if (!NOTICES.has(status.type)) continue;
        this.options.log.warn({ code: LogCode.StreamReaderNotice, reader: this.options.reader, stream: this.stream, consumer: this.consumer, notice: status.type, data: status.data, position: this.position }, 'stream reader notice');
        if (status.type === ConsumerEvents.HeartbeatsMissed && Number(status.data) >= MISSED_HEARTBEATS) this.fail(`${String(status.data)} heartbeats missed`);
      }
    } catch {
      // The status iterator ends with the messages.
    }
  }

  /** A stall: the owner has waited stallMs while the stream holds a message past the position. */
  private async check(): Promise<void> {
    const waitingSince = this.waitingSince;
    if (this.checking || this.ended || waitingSince === undefined || Date.now() - waitingSince < this.stallMs) return;
    this.checking = true;
    try {
      const position = this.position;
      this.stallChecks++;
      // The first message after the position, if the stream holds one (not its last
      // sequence: that stays where it was when messages are deleted).
      const next = await this.jsm.streams.getMessage(this.stream, { seq: position + 1, next_by_subj: this.options.filterSubject ?? '>' } as unknown as MsgRequest).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      // Still waiting since then, with nothing delivered meanwhile, and so at the check
      // before too: a stall. At this check only: perhaps a message in flight; the next decides.
      if (!next) {
        // Nothing held: the two must be in a row.
        this.suspect = undefined;
        return;
      }
      if (this.waitingSince !== waitingSince || this.position !== position) return;
      if (this.suspect?.waitingSince === waitingSince && this.suspect.position === position) {
        this.fail(`nothing delivered for ${Date.now() - waitingSince} ms while the stream holds ${next.seq}`);
      } else {
        this.suspect = { waitingSince, position };
      }
    } catch {
      // The stream does not answer (no leader yet): the next check asks again (a message
      // found before it still counts: the check between them could not say otherwise).
    } finally {
      this.checking = false;
    }
  }
}
