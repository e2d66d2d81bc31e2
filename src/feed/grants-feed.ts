/**
 * A process's view of stream GRANTS: a live feed from where the stream ended when the
 * feed started, and replays of a range for a resuming client. One per process that serves
 * clients; its listeners (the cache's freshness and in-process layer, REST's recent events,
 * the WebSocket gateway) each get every message, in stream order, in the order they were
 * added: the cache forgets a changed grant before any client can hear of the change.
 *
 * Each message is decoded and checked once (decode.ts); frames are built once per event,
 * not per client.
 */
import type { JetStreamManager, NatsConnection } from 'nats';
import { LogCode } from '../domain/codes.js';
import { Streams, Subjects } from '../domain/events.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { StreamReader } from '../bus/stream-reader.js';
import { ensureGrantsStream, isNotFound, type GrantsStreamOptions } from '../bus/streams.js';
import { backoffDelay } from '../domain/backoff.js';
import { sleep } from '../lifecycle/retry.js';
import { Semaphore } from '../lifecycle/semaphore.js';
import { reportError } from '../observability/sentry.js';
import { decodeEvent } from './decode.js';
import { ReplayInterruptedError, type ChangeFeed, type FeedEvent, type FeedItem, type FeedListener, type ReplayScope } from './types.js';

/** Messages JetStream hands the live feed ahead of the listeners. */
const LIVE_PREFETCH = 1_024;
/** Messages a replay's consumer fetches ahead. */
const REPLAY_PREFETCH = 512;
/** Readers a replay opens at most, each from where the one before ended. */
const REPLAY_READERS = 3;
/** Waiters for a sequence the feed has not reached, at most; beyond, `reached` does not wait. */
const MAX_WAITERS = 1_000;
/** Restarts of a failed feed: the first after at most this long, doubling up to the cap. */
const RESTART = { baseMs: 100, maxMs: 5_000 };
/**
 * Replays at once per process (each opens a consumer on stream GRANTS), and replays waiting
 * for a place; beyond both, `replay` throws SemaphoreFullError (the gateway then asks the
 * client to come back with 1001, REST answers 503).
 */
const REPLAYS_AT_ONCE = 16;
const REPLAYS_WAITING = 256;
/**
 * Characters (frames and JSON) the window of recent events holds at most, besides
 * GATEWAY_REPLAY_WINDOW events: events carry whole grants, a count alone would not bound it.
 */
const WINDOW_CHARS = 8_000_000;

export class GrantFeed implements ChangeFeed {
  /** Stream sequence of the last message handed to the listeners. */
  head = 0;
  /** True from `start` until the feed stops or fails. */
  live = false;
  private reader: StreamReader | undefined;
  private jsm: JetStreamManager | undefined;
  private done: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private readonly replays = new Semaphore(REPLAYS_AT_ONCE, REPLAYS_WAITING);
  private waiters: { seq: number; resolve: () => void }[] = [];
  private readonly listeners: FeedListener[] = [];
  /**
   * The last events the live consumer delivered, contiguous in stream sequence: a resume
   * whose gap lies within it is replayed from memory, without a consumer on the stream or a
   * place in the replay semaphore (a gateway that takes over thousands of clients at once
   * would otherwise open a consumer for each).
   */
  private window: FeedItem[] = [];
  private windowStart = 0;
  private windowChars = 0;

  constructor(
    private readonly nc: NatsConnection,
    /** How the feed creates GRANTS when it is first (GRANTS_MAX_AGE, NATS_STREAM_REPLICAS). */
    private readonly stream: GrantsStreamOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** GATEWAY_REPLAY_WINDOW: recent events kept for resumes (0: every replay reads the stream). */
    private readonly windowSize = 0,
  ) {}

  /** Adds a listener; every listener is added before `start`. */
  onEvent(listener: FeedListener): void {
    this.listeners.push(listener);
  }

  /**
   * Starts from where the stream ends now. A feed whose consumer fails later (the stream
   * deleted, NATS gone for longer than the client rides out) restarts by itself from the
   * sequence after the last it delivered, logged (GatewayFeedFailed) and reported.
   */
  async start(): Promise<void> {
    this.jsm = await this.nc.jetstreamManager();
    await ensureGrantsStream(this.jsm, this.stream, this.log);
    const info = await this.jsm.streams.info(Streams.grants);
    this.head = info.state.last_seq;
    const first = await this.consume();
    this.done = this.run(first);
  }

  /**
   * A reader from the sequence after `head` (bus/stream-reader.ts): it ends, saying why,
   * when its consumer cannot go on (a cluster node lost, the stream deleted, NATS gone for
   * longer than heartbeats allow), and `run` restarts the feed from the new head.
   */
  private async consume(): Promise<StreamReader> {
    // A stream that is gone fails the consumer's creation: no need to ask for it first.
    const reader = await StreamReader.open(this.nc, Streams.grants, this.head + 1, { prefetch: LIVE_PREFETCH, reader: 'gateway feed', log: this.log });
    this.reader = reader;
    if (this.stopping.signal.aborted) reader.stop();
    return reader;
  }

  private async run(first: StreamReader): Promise<void> {
    let reader: StreamReader | undefined = first;
    for (let attempt = 0; !this.stopping.signal.aborted; attempt++) {
      try {
        reader ??= await this.consume();
        this.live = true;
        for await (const m of reader) {
          attempt = 0;
          this.head = m.seq;
          const item = this.decode(m.seq, m.subject, m.data);
          this.remember(item);
          for (const listener of this.listeners) listener(item);
          if (this.waiters.length) this.release();
        }
        if (this.stopping.signal.aborted) return;
        throw reader.failure ?? new Error('the GRANTS consumer ended');
      } catch (err) {
        this.live = false;
        reader?.stop();
        reader = undefined;
        if (this.stopping.signal.aborted) return;
        this.metrics.feedRestarts.inc();
        this.log.error({ code: LogCode.GatewayFeedFailed, err, head: this.head }, 'GRANTS feed failed; restarting it from the sequence after the last delivered');
        reportError(err, LogCode.GatewayFeedFailed, { head: this.head });
        await sleep(backoffDelay(attempt, RESTART), this.stopping.signal);
      } finally {
        this.live = false;
      }
    }
  }

  /**
   * The stream moved forward past `seq` with nothing in between (feed/continuity.ts saw
   * its first sequence jump): the feed's position is `seq` from now on, so that positions
   * before it are outside the stream for resuming clients and REST.
   */
  skipTo(seq: number): void {
    if (seq <= this.head) return;
    this.forget();
    this.head = seq;
    if (this.waiters.length) this.release();
  }

  /**
   * Resolves once the feed delivered `seq`, after `timeoutMs`, or when `signal` aborts,
   * whichever comes first; each of the three removes the waiter. With MAX_WAITERS already
   * waiting it resolves at once (the caller then finds the position not reached).
   */
  reached(seq: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.head >= seq || signal?.aborted || this.waiters.length >= MAX_WAITERS) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.metrics.feedWaiters.set(this.waiters.length);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const waiter = { seq, resolve: done };
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(waiter);
      this.metrics.feedWaiters.set(this.waiters.length);
    });
  }

  /** Waiters now (tests check none is left behind). */
  get waiting(): number {
    return this.waiters.length;
  }

  private release(): void {
    for (const w of this.waiters.filter((w) => w.seq <= this.head)) w.resolve();
  }

  /** First sequence still held by the stream (older ones expired). */
  async firstSeq(): Promise<number> {
    const info = await this.jsm!.streams.info(Streams.grants);
    return info.state.first_seq;
  }

  /** Whether the window holds every event after `since` up to the head. */
  covers(since: number): boolean {
    const first = this.window[this.windowStart]?.seq;
    return first !== undefined && first <= since + 1 && since <= this.head;
  }

  async replay(scope: ReplayScope, since: number, until: number, each: (event: FeedEvent) => boolean): Promise<boolean> {
    if (until <= since) return true;
    const first = this.window[this.windowStart]?.seq;
    if (first !== undefined && first <= since + 1 && until <= this.window[this.window.length - 1]!.seq) {
      // Contiguous: the event at seq n is at windowStart + n - first.
      for (let i = this.windowStart + since + 1 - first; i <= this.windowStart + until - first; i++) {
        const item = this.window[i]!;
        if (item.change && (scope === 'all' || item.id === scope.grant) && !each(item)) return false;
      }
      return true;
    }
    const release = await this.replays.acquire();
    this.metrics.feedReplays.set(this.replays.stats.held);
    try {
      return await this.read(scope, since, until, each);
    } finally {
      release();
      this.metrics.feedReplays.set(this.replays.stats.held);
    }
  }

  private async read(scope: ReplayScope, since: number, until: number, each: (event: FeedEvent) => boolean): Promise<boolean> {
    const subject = scope === 'all' ? undefined : Subjects.grantChanged(scope.grant);
    if (subject) {
      // Nothing to wait for when the grant's last event is not after `since`.
      const last = await this.jsm!.streams.getMessage(Streams.grants, { last_by_subj: subject }).catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (!last || last.seq <= since) return true;
    }
    // A reader that ends midway (its consumer lost with a NATS node) is followed by another
    // from where it got to, REPLAY_READERS in all; then the replay fails, incomplete.
    let position = since;
    let failure: Error | undefined;
    for (let attempt = 0; attempt < REPLAY_READERS; attempt++) {
      const reader = await StreamReader.open(this.nc, Streams.grants, position + 1, {
        prefetch: REPLAY_PREFETCH,
        reader: 'replay',
        log: this.log,
        ...(subject ? { filterSubject: subject } : {}),
      });
      try {
        for await (const m of reader) {
          if (m.seq > until) return true;
          const item = this.decode(m.seq, m.subject, m.data);
          if (item.change && !each(item)) return false;
          if (m.seq >= until || m.info.pending === 0) return true;
        }
        position = reader.position;
        failure = reader.failure;
      } finally {
        reader.stop();
      }
    }
    throw new ReplayInterruptedError(`the replay ended at ${position}, before ${until}: ${failure?.message ?? 'stopped'}`, { cause: failure });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.reader?.stop();
    await this.done;
  }

  /** Adds a delivered item to the window; a jump in sequence starts the window afresh. */
  private remember(item: FeedItem): void {
    if (this.windowSize === 0) return;
    const last = this.window[this.window.length - 1];
    if (last && item.seq !== last.seq + 1) this.forget();
    this.window.push(item);
    this.windowChars += size(item);
    while (this.window.length - this.windowStart > this.windowSize || (this.windowChars > WINDOW_CHARS && this.window.length - this.windowStart > 1)) {
      this.windowChars -= size(this.window[this.windowStart]!);
      this.window[this.windowStart++] = undefined as unknown as FeedItem;
    }
    if (this.windowStart > 4_096 && this.windowStart * 2 > this.window.length) {
      this.window = this.window.slice(this.windowStart);
      this.windowStart = 0;
    }
  }

  /** Empties the window (the stream's numbering moved on). */
  private forget(): void {
    this.window = [];
    this.windowStart = 0;
    this.windowChars = 0;
  }

  private decode(seq: number, subject: string, data: Uint8Array): FeedItem {
    const { invalid, ...item } = decodeEvent(seq, subject, data);
    if (invalid) {
      this.metrics.feedEventsInvalid.inc();
      this.log.warn({ code: LogCode.FeedEventInvalid, seq, subject, reason: invalid.reason }, 'a message on stream GRANTS is not a valid change event; skipped');
    }
    return item;
  }
}

/** Characters an item holds in the window. */
const size = (item: FeedItem) => (item.change ? item.frame.length + item.json.length : 0);
