/**
 * One run of one source: fetch, parse, check, publish, and say how it went on
 * `scrape.status.<source>`.
 *
 * Every record is checked with ingest's own `normaliseRecord` before it is published. A
 * record that fails is still published (ingest rejects it onto `scrape.rejected.<source>`
 * with its reasons, CONTRACT section 4), but the run ends `degraded` and logs
 * ScrapeRecordInvalid: a parser that drifted from the site's markup shows up here, at the
 * scraper, not only downstream.
 */
import { LogCode } from '../domain/codes.js';
import type { ScrapeState } from '../domain/scrape-status.js';
import { normaliseRecord } from '../normalise/record.js';
import type { Logger } from '../observability/log.js';
import type { Clock } from './clock.js';
import { HostBlockedError, PublishError, RobotsDisallowedError, ScrapeError, StreamMissingError } from './errors.js';
import type { PoliteFetcher } from './fetcher.js';
import type { RecordPublisher, StatusReporter } from './publisher.js';
import type { Source } from './sources/types.js';

export interface RunDeps {
  source: Source;
  fetcher: PoliteFetcher;
  publisher: Pick<RecordPublisher, 'publish'>;
  status: StatusReporter;
  log: Logger;
  clock: Clock;
  maxPages: number;
}

export interface RunSummary {
  state: ScrapeState;
  detail: string;
  found: number;
  published: number;
  duplicates: number;
  invalid: number;
  problems: string[];
}

export async function runSource(deps: RunDeps): Promise<RunSummary> {
  const { source, fetcher, publisher, status, log, clock } = deps;
  const started = clock.now();
  const summary: RunSummary = { state: 'ok', detail: '', found: 0, published: 0, duplicates: 0, invalid: 0, problems: [] };
  const runLog = log.child({ source: source.name });

  const host = new URL(source.startUrl).host;
  const breaker = fetcher.breakerOf(host);
  if (breaker.state === 'open') {
    // Still blocked: not one request until the breaker's probe is due.
    summary.state = 'blocked';
    summary.detail = `${host} blocked (${breaker.lastReason ?? 'refused'}); next probe at ${new Date(breaker.reopensAt).toISOString()}`;
    status.set('blocked', summary.detail);
    return summary;
  }

  runLog.info({ code: LogCode.ScrapeRunStarted, url: source.startUrl }, 'scrape run started');
  try {
    const records = source.scrape({
      fetch: (url) => fetcher.get(url),
      log: runLog,
      maxPages: deps.maxPages,
      problem: (detail, err) => {
        summary.problems.push(detail);
        runLog.warn({ code: err instanceof ScrapeError ? err.code : LogCode.ScrapeParseFailed, err, detail }, 'scrape problem');
      },
    });
    for await (const record of records) {
      summary.found++;
      const check = normaliseRecord(record, source.name);
      if (!check.ok) {
        summary.invalid++;
        runLog.warn({ code: LogCode.ScrapeRecordInvalid, externalId: record.externalId, errors: check.errors }, 'record will be rejected by ingest');
      }
      const outcome = await publisher.publish(record);
      if (outcome === 'duplicate') summary.duplicates++;
      else summary.published++;
    }
  } catch (err) {
    if (err instanceof HostBlockedError) {
      summary.state = 'blocked';
      summary.detail = `${err.host} blocked: ${err.reason}; next probe at ${new Date(err.until).toISOString()}`;
    } else if (err instanceof StreamMissingError || err instanceof PublishError) {
      summary.state = 'failing';
      summary.detail = `${err.code}: ${err.message}`;
      runLog.error({ code: err.code, err }, 'cannot publish records');
    } else if (err instanceof RobotsDisallowedError) {
      summary.state = 'failing';
      summary.detail = `${err.code}: ${err.message}`;
    } else {
      summary.state = 'failing';
      const code = err instanceof ScrapeError ? err.code : LogCode.ScrapeFetchFailed;
      summary.detail = `${code}: ${(err as Error).message}`;
      runLog.error({ code, err }, 'scrape run failed');
    }
  }

  if (summary.state === 'ok') {
    if (summary.invalid > 0) summary.problems.push(`${summary.invalid} of ${summary.found} record(s) fail validation (see ScrapeRecordInvalid)`);
    if (summary.found === 0 && summary.problems.length === 0) summary.problems.push('no grants found');
    if (summary.problems.length > 0) summary.state = 'degraded';
    const counts = `${summary.found} found, ${summary.published} published, ${summary.duplicates} unchanged`;
    summary.detail = summary.problems.length > 0 ? `${counts}; ${summary.problems.join('; ')}` : counts;
  }
  // A block was published the moment it happened (the fetcher's onBlocked); not twice.
  const announced = summary.state === 'blocked' && status.state === 'blocked' && status.setAt >= started;
  if (!announced) status.set(summary.state, summary.detail);
  runLog.info(
    { code: LogCode.ScrapeRunFinished, state: summary.state, found: summary.found, published: summary.published, duplicates: summary.duplicates, invalid: summary.invalid, ms: clock.now() - started },
    'scrape run finished',
  );
  return summary;
}
