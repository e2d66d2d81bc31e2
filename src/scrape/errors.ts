/**
 * Errors of the scraper kit. Each carries the LogCode it is logged with, so a run can
 * log `{ code: err.code, err }` without a table of its own.
 */
import { LogCode } from '../domain/codes.js';

export class ScrapeError extends Error {
  override name = 'ScrapeError';
  readonly code: LogCode = LogCode.ScrapeFetchFailed;
}

/** The host's circuit breaker is open: no request was sent. */
export class HostBlockedError extends ScrapeError {
  override name = 'HostBlockedError';
  override readonly code = LogCode.ScrapeHostBlocked;
  constructor(
    readonly host: string,
    readonly reason: string,
    /** When the breaker lets a probe through (ms since epoch). */
    readonly until: number,
  ) {
    super(`${host} is blocked (${reason}); next probe at ${new Date(until).toISOString()}`);
  }
}

/** robots.txt disallows the URL for our User-Agent: no request was sent. */
export class RobotsDisallowedError extends ScrapeError {
  override name = 'RobotsDisallowedError';
  override readonly code = LogCode.ScrapeRobotsDisallowed;
  constructor(readonly url: string) {
    super(`robots.txt disallows ${url}`);
  }
}

/** A final HTTP answer the fetcher does not retry (or stopped retrying). */
export class HttpStatusError extends ScrapeError {
  override name = 'HttpStatusError';
  constructor(
    readonly url: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(`GET ${url} answered ${status}`, options);
  }
}

/** No answer after the retries (connection refused or reset, timeout). */
export class NetworkError extends ScrapeError {
  override name = 'NetworkError';
  constructor(
    readonly url: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(`GET ${url} failed after ${attempts} attempt(s): ${(options?.cause as Error | undefined)?.message ?? 'network error'}`, options);
  }
}

export class ResponseTooLargeError extends ScrapeError {
  override name = 'ResponseTooLargeError';
  constructor(
    readonly url: string,
    readonly limit: number,
  ) {
    super(`GET ${url}: body larger than ${limit} bytes`);
  }
}

/** Stream SCRAPE does not capture `scrape.grants.<source>`: the ingest role has not created it. */
export class StreamMissingError extends ScrapeError {
  override name = 'StreamMissingError';
  override readonly code = LogCode.ScrapeStreamMissing;
}

/** A JetStream publish failed for another reason (permissions, timeout, NATS down). */
export class PublishError extends ScrapeError {
  override name = 'PublishError';
  override readonly code = LogCode.ScrapePublishFailed;
}
