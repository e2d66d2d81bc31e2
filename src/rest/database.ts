/**
 * What a REST client is told when the database could not answer in time (docs/rest.md):
 * a statement cancelled by DATABASE_STATEMENT_TIMEOUT is 503 `query_timeout`, and no
 * connection of the gateway's pool free within that time is 503 `busy`, both with
 * `Retry-After`. Either is the service protecting itself under load, not a bug: neither is
 * logged as a failure (they show in `navimpact_http_requests_total{status="503"}`).
 */
import { HttpErrorCode } from '../domain/codes.js';
import { HttpError } from '../http/errors.js';

/** SQLSTATE of a statement cancelled by `statement_timeout` (or by a cancel request). */
const QUERY_CANCELED = '57014';

function isQueryCanceled(err: unknown): boolean {
  return (err as { code?: unknown })?.code === QUERY_CANCELED;
}

/** pg-pool's error when no connection became free within its `connectionTimeoutMillis`. */
function isPoolTimeout(err: unknown): boolean {
  return err instanceof Error && /timeout exceeded when trying to connect/i.test(err.message);
}

/** Retry-After (seconds) of an answer refused because the database was too slow or too busy. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

/** `err` as the HttpError a client sees when it is a timeout of the database; otherwise `err` itself. */
export function databaseRefusal(err: unknown): unknown {
  const retry = { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) };
  if (isQueryCanceled(err)) return new HttpError(503, HttpErrorCode.QueryTimeout, 'the query took longer than the database statement timeout; narrow the filter or retry later', undefined, retry);
  if (isPoolTimeout(err)) return new HttpError(503, HttpErrorCode.Busy, 'no database connection became free in time; retry later', undefined, retry);
  return err;
}
