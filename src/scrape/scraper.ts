/**
 * A scraper process for one source: its NATS connection (with the source's own
 * credentials), its polite fetcher, and either one run (`--once`) or runs on a schedule
 * (`SCRAPE_INTERVAL` plus 0..`SCRAPE_INTERVAL_JITTER`) with status heartbeats between.
 *
 * # Lifecycle
 * `start` connects; `runOnce` or `runScheduled(signal)` works; `close` stops the
 * heartbeat, drains NATS (so the last status is delivered) and closes the HTTP agent.
 * `close` is idempotent.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { systemClock, type Clock } from './clock.js';
import { redactUrl } from '../config/redact.js';
import type { ScrapeConfig } from './config.js';
import { PoliteFetcher } from './fetcher.js';
import { RecordPublisher, StatusReporter } from './publisher.js';
import { runSource, type RunSummary } from './run.js';
import type { Source } from './sources/types.js';

/** The product token robots.txt groups name us by. */
export const BOT_TOKEN = 'NavImpactLiveBot';

export function userAgent(version: string, contact: string): string {
  return `${BOT_TOKEN}/${version} (+${contact})`;
}

export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
}

/**
 * The inbox prefix of a source's scraper: the only subjects deploy/nats/accounts.conf lets
 * its user subscribe to (`_INBOX_scraper_<source>.>`), where its JetStream publish
 * acknowledgements arrive. The service's own inboxes (`_INBOX.>`, JetStream deliveries and
 * API replies) stay out of a scraper's reach.
 */
export function scraperInboxPrefix(source: string): string {
  return `_INBOX_scraper_${source}`;
}

export function natsOptions(config: ScrapeConfig, source: string): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: `navimpact-scraper-${source}`,
    inboxPrefix: scraperInboxPrefix(source),
    timeout: 5_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 500,
  };
  if (config.NATS_USER !== undefined) {
    options.user = config.NATS_USER;
    options.pass = config.NATS_PASSWORD;
  } else if (config.NATS_TOKEN !== undefined) {
    options.token = config.NATS_TOKEN;
  } else if (config.NATS_CREDS !== undefined) {
    options.authenticator = credsAuthenticator(readFileSync(config.NATS_CREDS));
  }
  return options;
}

export interface ScraperOptions {
  config: ScrapeConfig;
  source: Source;
  version: string;
  log: Logger;
  clock?: Clock;
  random?: () => number;
}

export class Scraper {
  private nc: NatsConnection | undefined;
  private status: StatusReporter | undefined;
  private publisher: RecordPublisher | undefined;
  readonly fetcher: PoliteFetcher;
  private readonly clock: Clock;
  private readonly random: () => number;
  private closed = false;

  constructor(private readonly options: ScraperOptions) {
    const { config, log } = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.fetcher = new PoliteFetcher({
      userAgent: userAgent(options.version, config.SCRAPER_CONTACT),
      robotsToken: BOT_TOKEN,
      minDelayMs: config.SCRAPE_MIN_DELAY,
      jitterMs: config.SCRAPE_JITTER,
      timeoutMs: config.SCRAPE_TIMEOUT,
      maxBytes: config.SCRAPE_MAX_RESPONSE_BYTES,
      retries: config.SCRAPE_RETRIES,
      backoffBaseMs: config.SCRAPE_BACKOFF_BASE,
      backoffMaxMs: config.SCRAPE_BACKOFF_MAX,
      maxRetryAfterMs: config.SCRAPE_MAX_RETRY_AFTER,
      breakerCooldownMs: config.SCRAPE_BREAKER_COOLDOWN,
      breakerMaxCooldownMs: config.SCRAPE_BREAKER_MAX_COOLDOWN,
      log: log.child({ source: options.source.name }),
      clock: this.clock,
      random: this.random,
      // Published the moment the breaker opens, not at the end of the run.
      onBlocked: (event) => this.status?.set('blocked', `${event.host} blocked: ${event.reason}; next probe at ${new Date(event.until).toISOString()}`),
    });
  }

  async start(): Promise<void> {
    const { config, source } = this.options;
    try {
      this.nc = await connect(natsOptions(config, source.name));
    } catch (err) {
      throw new NatsConnectError(`cannot connect to NATS at ${redactUrl(config.NATS_URL)}: ${(err as Error).message}`, { cause: err });
    }
    const log = this.options.log;
    void (async () => {
      for await (const s of this.nc!.status()) {
        if (s.type === 'disconnect') log.warn({ code: LogCode.NatsDisconnected, server: s.data }, 'NATS disconnected');
        else if (s.type === 'reconnect') log.info({ code: LogCode.NatsReconnected, server: s.data }, 'NATS reconnected');
        else if (s.type === 'error') log.warn({ code: LogCode.NatsError, err: s.data }, 'NATS error');
      }
    })();
    this.status = new StatusReporter(this.nc, source.name, this.clock, log);
    this.publisher = new RecordPublisher(this.nc, source.name, config.SCRAPE_PUBLISH_TIMEOUT);
  }

  async runOnce(): Promise<RunSummary> {
    if (!this.nc || !this.status || !this.publisher) throw new Error('Scraper.start() first');
    const summary = await runSource({
      source: this.options.source,
      fetcher: this.fetcher,
      publisher: this.publisher,
      status: this.status,
      log: this.options.log,
      clock: this.clock,
      maxPages: this.options.config.SCRAPE_MAX_PAGES,
    });
    await this.status.flush();
    return summary;
  }

  /** Runs now and then every interval (with jitter) until `signal` aborts; heartbeats between. */
  async runScheduled(signal: AbortSignal): Promise<void> {
    const { config, log, source } = this.options;
    this.status?.start(config.SCRAPE_HEARTBEAT);
    while (!signal.aborted) {
      await this.runOnce();
      const wait = config.SCRAPE_INTERVAL + Math.floor(this.random() * config.SCRAPE_INTERVAL_JITTER);
      log.info({ code: LogCode.ScrapeRunScheduled, source: source.name, next: new Date(this.clock.now() + wait).toISOString() }, 'next run scheduled');
      try {
        await this.clock.sleep(wait, signal);
      } catch {
        break;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status?.stop();
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
    await this.fetcher.close();
  }
}
