/**
 * The filter grammar of CONTRACT v1.1 section 6, once, for REST, WebSocket and SSE: parsing,
 * the canonical form, and the one function that says whether a grant matches. REST builds
 * its SQL from the same parsed filter (rest/filter-sql.ts); the gateway decides entering and
 * leaving a view with `viewChange` from the change event alone.
 *
 * # Grammar
 * Every parameter is optional; parameters are ANDed; the values of one parameter are
 * comma-separated and ORed. `status`, `location`, `domain` and `source` take lists; `q`,
 * `minAmount`, `closesAfter` and `closesBefore` take one value (a comma in `q` is text).
 * An unknown parameter, a repeated one, or a bad value is refused, naming the parameter.
 *
 * # Matching (what SQL and memory agree on; test/filter/property.test.ts checks it)
 * - `location`: the grant lists any of the values.
 * - `q`: a case-insensitive substring of title, agency or description. Case is folded one
 *   character at a time, as Postgres's ILIKE does; accents are kept (`cafe` does not find
 *   `café`).
 * - `minAmount`: `maxAmount` is at least this; a grant without `maxAmount` does not match.
 * - `closesAfter`/`closesBefore`: inclusive bounds on `closeDate`; a grant without
 *   `closeDate` matches neither.
 */
import { GRANT_STATUSES, LOCATIONS, MAX_AMOUNT, VIC_OUTCOME_DOMAINS, type Grant, type GrantStatus, type Location } from './grant.js';

/** The grant fields a filter reads. */
export type FilterFields = Pick<Grant, 'source' | 'title' | 'description' | 'agency' | 'maxAmount' | 'closeDate' | 'status' | 'locations' | 'vicOutcomeDomain'>;
export const FILTER_FIELDS = ['source', 'title', 'description', 'agency', 'maxAmount', 'closeDate', 'status', 'locations', 'vicOutcomeDomain'] as const satisfies readonly (keyof FilterFields)[];

export interface GrantFilter {
  status?: readonly GrantStatus[];
  location?: readonly Location[];
  domain?: readonly string[];
  source?: readonly string[];
  /** Case-folded (see `foldCase`). */
  q?: string;
  minAmount?: number;
  closesAfter?: string;
  closesBefore?: string;
}

export const FILTER_PARAMETERS = ['closesAfter', 'closesBefore', 'domain', 'location', 'minAmount', 'q', 'source', 'status'] as const;
export type FilterParameter = (typeof FILTER_PARAMETERS)[number];

/** Bounds of `q`, in characters. */
export const Q_MIN = 2;
export const Q_MAX = 100;
/** Most values one list parameter takes. */
const MAX_VALUES = 50;

/** A refused filter: the parameter at fault and why. */
export class FilterError extends Error {
  override name = 'FilterError';
  constructor(
    readonly parameter: string,
    reason: string,
  ) {
    super(`${parameter}: ${reason}`);
  }
}

const SOURCE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const AMOUNT = /^\d{1,12}(\.\d{1,2})?$/;

/**
 * Lower-cases one character at a time, as Postgres's `lower()` and ILIKE do (a character
 * whose lower case is longer, like `İ`, keeps the first code point of it).
 */
export function foldCase(text: string): string {
  let out = '';
  for (const ch of text) {
    const lower = ch.toLowerCase();
    out += lower.length === ch.length ? lower : String.fromCodePoint(lower.codePointAt(0)!);
  }
  return out;
}

function list<T extends string>(parameter: string, raw: string, canonical: (value: string) => T | undefined, expected: string): T[] {
  const values = raw.split(',').map((v) => v.trim());
  if (values.length > MAX_VALUES) throw new FilterError(parameter, `at most ${MAX_VALUES} values`);
  const out = new Set<T>();
  for (const value of values) {
    if (value === '') throw new FilterError(parameter, 'empty value');
    const c = canonical(value);
    if (c === undefined) throw new FilterError(parameter, `${JSON.stringify(value.slice(0, 40))} is not ${expected}`);
    out.add(c);
  }
  return [...out].sort();
}

function date(parameter: string, value: string): string {
  const m = DATE.exec(value);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new FilterError(parameter, 'must be a date as YYYY-MM-DD');
  }
  return value;
}

const byLowerLocation = new Map(LOCATIONS.map((l) => [l.toLowerCase(), l]));

/**
 * Parses filter parameters (name, value pairs, as URLSearchParams yields them). Throws a
 * FilterError naming the first parameter at fault.
 */
export function parseFilter(entries: Iterable<[string, string]>): GrantFilter {
  const seen = new Set<string>();
  const filter: { -readonly [K in keyof GrantFilter]: GrantFilter[K] } = {};
  for (const [name, raw] of entries) {
    if (!(FILTER_PARAMETERS as readonly string[]).includes(name)) throw new FilterError(name.slice(0, 40), `unknown parameter (known: ${FILTER_PARAMETERS.join(', ')})`);
    if (seen.has(name)) throw new FilterError(name, 'given twice; separate values with commas');
    seen.add(name);
    const value = raw.trim();
    switch (name as FilterParameter) {
      case 'status':
        filter.status = list(name, value, (v) => (GRANT_STATUSES as readonly string[]).includes(v.toLowerCase()) ? (v.toLowerCase() as GrantStatus) : undefined, `one of ${GRANT_STATUSES.join(', ')}`);
        break;
      case 'location':
        filter.location = list(name, value, (v) => byLowerLocation.get(v.toLowerCase()), `one of ${LOCATIONS.join(', ')}`);
        break;
      case 'domain':
        filter.domain = list(name, value, (v) => ((VIC_OUTCOME_DOMAINS as readonly string[]).includes(v.toLowerCase()) ? v.toLowerCase() : undefined), `one of ${VIC_OUTCOME_DOMAINS.join(', ')}`);
        break;
      case 'source':
        filter.source = list(name, value, (v) => (SOURCE.test(v) ? v : undefined), 'a source name (a-z, 0-9, - and _)');
        break;
      case 'q': {
        const length = [...value].length;
        if (length < Q_MIN || length > Q_MAX) throw new FilterError(name, `must be ${Q_MIN} to ${Q_MAX} characters`);
        filter.q = foldCase(value);
        break;
      }
      case 'minAmount':
        if (!AMOUNT.test(value) || Number(value) > MAX_AMOUNT) throw new FilterError(name, 'must be an amount such as 5000 or 2500.50');
        filter.minAmount = Number(value);
        break;
      case 'closesAfter':
        filter.closesAfter = date(name, value);
        break;
      case 'closesBefore':
        filter.closesBefore = date(name, value);
        break;
    }
  }
  return filter;
}

/** The canonical query of a filter: parameters and values sorted, nothing for defaults ('' when empty). */
export function canonicalQuery(filter: GrantFilter): string {
  const parts: string[] = [];
  for (const name of FILTER_PARAMETERS) {
    const value = filter[name];
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.map((v: string) => encodeURIComponent(v)).join(',') : encodeURIComponent(String(value));
    parts.push(`${name}=${text}`);
  }
  return parts.join('&');
}

/**
 * Whether `grant` matches `filter` (the memory side of what rest/filter-sql.ts asks
 * Postgres). `fold` may be a memo of `foldCase` shared by every filter tried on one event.
 */
export function matches(filter: GrantFilter, grant: FilterFields, fold: (text: string) => string = foldCase): boolean {
  if (filter.status && !filter.status.includes(grant.status)) return false;
  if (filter.location && !grant.locations.some((l) => filter.location!.includes(l))) return false;
  if (filter.domain && (grant.vicOutcomeDomain === null || !filter.domain.includes(grant.vicOutcomeDomain))) return false;
  if (filter.source && !filter.source.includes(grant.source)) return false;
  if (filter.minAmount !== undefined && (grant.maxAmount === null || grant.maxAmount < filter.minAmount)) return false;
  if (filter.closesAfter !== undefined && (grant.closeDate === null || grant.closeDate < filter.closesAfter)) return false;
  if (filter.closesBefore !== undefined && (grant.closeDate === null || grant.closeDate > filter.closesBefore)) return false;
  if (filter.q !== undefined) {
    const q = filter.q;
    const found = [grant.title, grant.agency, grant.description].some((text) => text !== null && fold(text).includes(q));
    if (!found) return false;
  }
  return true;
}

/** What a change means for one view: sent as this op, or not sent (undefined). */
export type ViewOp = 'insert' | 'update' | 'delete' | 'leave';

/**
 * How one change event concerns the view of `filter` (CONTRACT v1.1 section 5): matching
 * after it -> `insert` or `update` (an update that brings the grant in is an `update`);
 * matching before but not after -> `leave`, or `delete` when the row was deleted; neither
 * -> not sent. `before` is the grant's filter fields before the change, when known; when it
 * is not (an event without previous values), a change after which the grant does not match
 * is sent as a `leave`/`delete`, which a client that did not hold the grant ignores.
 */
export function viewChange(
  filter: GrantFilter,
  op: 'insert' | 'update' | 'delete',
  after: FilterFields | null,
  before: FilterFields | null | undefined,
  fold: (text: string) => string = foldCase,
): ViewOp | undefined {
  const now = after !== null && matches(filter, after, fold);
  if (op === 'insert') return now ? 'insert' : undefined;
  if (now) return 'update';
  const was = before === undefined ? true : before !== null && matches(filter, before, fold);
  if (!was) return undefined;
  return op === 'delete' ? 'delete' : 'leave';
}

/** The topic of the view of `filter`: `grants?<canonical query>`, or `grants` for no filter. */
export function viewTopic(filter: GrantFilter): string {
  const query = canonicalQuery(filter);
  return query === '' ? 'grants' : `grants?${query}`;
}

/** Parses the filter of a `grants?<filter>` topic (URL-encoded query). Throws a FilterError. */
export function parseViewTopic(topic: string): GrantFilter {
  if (!topic.startsWith('grants?')) throw new FilterError('topic', 'a filtered topic starts with grants?');
  return parseFilter(new URLSearchParams(topic.slice('grants?'.length)));
}
