/**
 * Puts records on `scrape.grants.<source>` through JetStream, and status on
 * `scrape.status.<source>` through core NATS.
 *
 * Each record's `Nats-Msg-Id` is `<source>:<externalId>:<content hash>`: the same record
 * published again within stream SCRAPE's duplicate window is dropped by the server (the
 * ack says `duplicate`), while a changed record (another hash) goes through. The hash is
 * SHA-256 over the record's JSON with keys sorted, so field order does not matter.
 *
 * Scrapers do not create stream SCRAPE (their credentials cannot manage streams): the
 * ingest role does. When no stream captures the subject the server has no responder for
 * the publish; that is StreamMissingError, reported as `failing`.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, type JetStreamClient, type NatsConnection, type NatsError } from 'nats';
import { LogCode } from '../domain/codes.js';
import { Streams } from '../domain/events.js';
import { SCRAPE_STATUS_DETAIL_MAX, ScrapeStatus, ScrapeSubjects, type ScrapeState } from '../domain/scrape-status.js';
import type { Logger } from '../observability/log.js';
import type { Clock } from './clock.js';
import { PublishError, StreamMissingError } from './errors.js';
import type { ScrapedRecord } from './sources/types.js';

/** JSON with object keys sorted at every level: one text per content. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function contentHash(record: ScrapedRecord): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex').slice(0, 32);
}

export function messageId(source: string, record: ScrapedRecord): string {
  // A header value holds no line breaks; external ids are short text, this only guards.
  const id = String(record.externalId).replace(/[\r\n]+/g, ' ');
  return `${source}:${id}:${contentHash(record)}`;
}

export type PublishOutcome = 'published' | 'duplicate';

export class RecordPublisher {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly source: string,
    private readonly timeoutMs: number,
  ) {
    this.js = nc.jetstream({ timeout: timeoutMs });
  }

  async publish(record: ScrapedRecord): Promise<PublishOutcome> {
    const subject = ScrapeSubjects.grants(this.source);
    try {
      const ack = await this.js.publish(subject, new TextEncoder().encode(JSON.stringify(record)), {
        msgID: messageId(this.source, record),
        expect: { streamName: Streams.scrape },
        timeout: this.timeoutMs,
      });
      return ack.duplicate ? 'duplicate' : 'published';
    } catch (err) {
      const e = err as NatsError & { api_error?: { err_code?: number } };
      if (e.code === ErrorCode.NoResponders || e.code === '503') {
        throw new StreamMissingError(`no JetStream stream captures ${subject}: stream ${Streams.scrape} (subjects ${ScrapeSubjects.grantsAll}) is created by the ingest role; start it once`, { cause: err });
      }
      // 10060: the stream that answered is not SCRAPE.
      if (e.api_error?.err_code === 10060) {
        throw new StreamMissingError(`${subject} is captured by a stream other than ${Streams.scrape}`, { cause: err });
      }
      throw new PublishError(`publish to ${subject} failed: ${e.message}`, { cause: err });
    }
  }
}

/**
 * The source's status on `scrape.status.<source>`: published on every change and again
 * every `heartbeatMs`, so a subscriber (the gateway's /health) can tell a silent scraper
 * from a healthy one.
 */
export class StatusReporter {
  private last: { state: ScrapeState; detail?: string } | undefined;
  /** Clock time of the last `set` (0 before the first). */
  setAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly source: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get state(): ScrapeState | undefined {
    return this.last?.state;
  }

  /** Publishes a status now and keeps it for the heartbeats. */
  set(state: ScrapeState, detail?: string): void {
    this.last = { state, ...(detail !== undefined && { detail: clip(detail) }) };
    this.setAt = this.clock.now();
    this.send();
  }

  /** Starts the heartbeat (cancelling any earlier one first). */
  start(heartbeatMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.send(), heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Waits until the server has every status sent so far. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  private send(): void {
    if (!this.last || this.nc.isClosed()) return;
    const message: ScrapeStatus = ScrapeStatus.parse({ ...this.last, at: new Date(this.clock.now()).toISOString() });
    try {
      this.nc.publish(ScrapeSubjects.status(this.source), new TextEncoder().encode(JSON.stringify(message)));
    } catch (err) {
      this.log.warn({ code: LogCode.ScrapeStatusFailed, err, source: this.source }, 'could not publish scrape status');
    }
  }
}

function clip(text: string): string {
  return text.length > SCRAPE_STATUS_DETAIL_MAX ? `${text.slice(0, SCRAPE_STATUS_DETAIL_MAX - 1)}…` : text;
}
