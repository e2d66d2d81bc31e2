/** Query strings: strict parsing (unknown or repeated parameters are errors) and zod issue text. */
import { HttpErrorCode } from '../domain/codes.js';
import { HttpError } from './errors.js';

/** Longest query string accepted; longer ones are answered 414 without being parsed. */
export const MAX_QUERY_BYTES = 4_096;

/** Parses a query string into a plain object; a repeated parameter is an error. */
export function parseQuery(query: string, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    if (!allowed.includes(k)) throw new HttpError(400, HttpErrorCode.UnknownParameter, `unknown query parameter "${k.slice(0, 40)}" (allowed: ${allowed.join(', ') || 'none'})`);
    if (k in out) throw new HttpError(400, HttpErrorCode.InvalidQuery, `query parameter "${k}" given twice`);
    out[k] = v;
  }
  return out;
}

/** The message of a zod error, one `path: message` per issue, bounded. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(query)'}: ${i.message}`)
    .join('; ');
}
