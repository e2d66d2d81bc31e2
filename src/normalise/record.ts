/**
 * Normalisation of one raw scrape record (src/domain/scraped.ts) into a GrantInput: reads
 * the record as received and composes the field rules of this folder (text, money, dates,
 * status, categories, places). Ingest runs `normaliseRecord` on every message; scrapers run
 * it on each record before publishing, so a parser that drifted from its site shows up at
 * the scraper. The rules, and why each bound is where it is, are in docs/ingest.md.
 *
 * # Strictness
 * Normalisation accepts the ways real sites print a value and nothing that needs a guess:
 * an amount that is not an amount, a date that is not a calendar date, a place, status or
 * Victorian outcome domain it does not know, markup in a title, an oversized field: each
 * rejects the whole record with a `{ path, message }` per fault, never a silent null.
 * A value that says the fact is not known yet ("TBA 2023", "Not Specified yet", a month
 * without a day; unknown.ts) is not a fault: it is stored as null and the grant is kept,
 * since rejecting it would lose the grant over a field the site has not decided.
 */
import type { z } from 'zod';
import { GrantInput, LIMITS, RawGrantRecord, type NormaliseOptions, type NormaliseResult, type RecordError } from '../domain/scraped.js';
import { normaliseCategories } from './categories.js';
import { optionalDate } from './dates.js';
import { normaliseAmounts, normaliseCurrency } from './money.js';
import { normaliseLocations, normaliseVicOutcomeDomain } from './places.js';
import { normaliseStatus, statusFromDates } from './status.js';
import { boundedText, normaliseSource, normaliseTitle, normaliseUrl, plainText } from './text.js';

/**
 * Validates and normalises one raw record received on `scrape.grants.<subjectSource>`.
 * Never throws: any input, including non-objects, gives a result.
 */
export function normaliseRecord(input: unknown, subjectSource: string, options: NormaliseOptions = {}): NormaliseResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '', message: `must be a JSON object, got ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}` }] };
  }
  const parsed = RawGrantRecord.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map(toRecordError) };
  const errors: RecordError[] = [];
  const fail = (path: string, message: string) => {
    errors.push({ path, message });
    return null;
  };
  const raw = parsed.data;

  const source = normaliseSource(raw.source, subjectSource, fail);
  const externalId = plainText(String(raw.externalId));
  if (externalId.length === 0) fail('externalId', 'must not be empty');
  else if (externalId.length > LIMITS.externalId) fail('externalId', `must be at most ${LIMITS.externalId} characters`);

  const title = normaliseTitle(raw.title, fail);
  const description = boundedText('description', raw.description, LIMITS.description, fail, { keepLines: true });
  const agency = boundedText('agency', raw.agency, LIMITS.agency, fail);
  const url = normaliseUrl(raw.url, fail);

  const amounts = normaliseAmounts(raw, fail);
  const currency = normaliseCurrency(raw.currency, amounts.currency, fail);

  const openDate = optionalDate('openDate', raw.openDate, fail);
  const closeDate = optionalDate('closeDate', raw.closeDate, fail);
  if (openDate && closeDate && closeDate < openDate) fail('closeDate', `must not be before openDate (${openDate})`);

  const today = options.today ?? new Date().toISOString().slice(0, 10);
  // A status not printed, or printed as not known yet ("TBA"), comes from the dates.
  const printedStatus = raw.status == null || raw.status.trim() === '' ? 'not known' : normaliseStatus(raw.status, fail);
  const status = printedStatus === 'not known' ? statusFromDates(openDate, closeDate, today) : printedStatus;
  const categories = normaliseCategories(raw.categories, fail);
  const locations = normaliseLocations(raw.locations, fail);
  const vicOutcomeDomain = normaliseVicOutcomeDomain(raw.vicOutcomeDomain, fail);

  if (errors.length > 0) return { ok: false, errors };
  // The checks above are the rules; this parse is the guarantee that what leaves here
  // fits the table (a slip in a rule is caught, not written).
  const result = GrantInput.safeParse({
    source,
    externalId,
    title,
    description,
    agency,
    url,
    minAmount: amounts.min,
    maxAmount: amounts.max,
    currency,
    openDate,
    closeDate,
    status,
    categories,
    locations,
    vicOutcomeDomain,
  });
  if (!result.success) return { ok: false, errors: result.error.issues.map(toRecordError) };
  return { ok: true, record: result.data };
}

function toRecordError(issue: z.core.$ZodIssue): RecordError {
  return { path: issue.path.map(String).join('.'), message: issue.message };
}
