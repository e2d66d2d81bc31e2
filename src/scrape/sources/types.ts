/**
 * What a source is: something that, given a polite way to fetch pages, yields raw grant
 * records (CONTRACT section 4). Parsers only read markup; they print nothing to NATS and
 * know nothing of Postgres.
 */
import type { Logger } from '../../observability/log.js';
import type { RawGrantRecord } from '../../domain/scraped.js';
import type { FetchResult } from '../fetcher.js';

/**
 * A raw grant record as a site printed it (CONTRACT section 4, `RawGrantRecord` of
 * src/domain/scraped.ts): `externalId` and `title` required, the rest text as printed
 * ("$5,000", "31 March 2026", "Victoria"), or `amount` for a printed range, for ingest to
 * normalise. `source` is left out: it defaults to the subject's `<source>`.
 */
export type ScrapedRecord = RawGrantRecord & { externalId: string };

export interface SourceContext {
  /** GET through the polite fetcher (robots.txt, delays, retries, breaker). */
  fetch(url: string): Promise<FetchResult>;
  log: Logger;
  maxPages: number;
  /**
   * Reports a problem that did not stop the run (a detail page that failed, a list item
   * that did not parse): the run ends `degraded` with this in its detail.
   */
  problem(detail: string, err?: unknown): void;
}

export interface Source {
  readonly name: string;
  readonly kind: string;
  /** The first list page. */
  readonly startUrl: string;
  scrape(ctx: SourceContext): AsyncIterable<ScrapedRecord>;
}
