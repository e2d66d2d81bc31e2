/**
 * The raw scrape record (CONTRACT section 4) and its normalisation into a GrantInput, the
 * shape ingest writes to `grants`. Scrapers import `RawGrantRecord` to check what they
 * publish; ingest runs `normaliseRecord` on every message. The rules, and why each bound
 * is where it is, are in docs/ingest.md.
 *
 * # What a raw record is
 * The Grant's fields except `id`, `version` and `updatedAt`. `externalId` and `title` are
 * required; every other field may be absent, null, or the text the site printed
 * ("$5,000", "31/03/2026", "Victoria", "Opening soon"). One extra field, `amount`, takes
 * the amount exactly as printed ("Up to $20 million", "$5,000 - $50,000") when the site
 * shows no separate minimum and maximum. Fields not listed here are ignored (a scraper
 * may publish more than ingest stores, e.g. its own fetch time) — documented, not silent:
 * docs/ingest.md.
 *
 * # Strictness
 * Normalisation accepts the ways real sites print a value and nothing that needs a guess:
 * an amount that is not an amount, a date that is not a calendar date, a state, status or
 * Victorian outcome domain outside its enumeration, markup in a title, an oversized field:
 * each rejects the whole record with a `{ path, message }` per fault, never a silent null.
 */
import { z } from 'zod';
import { Amount, GrantStatus, IsoDate, LOCATIONS, Location, MAX_AMOUNT, VIC_OUTCOME_DOMAINS, VicOutcomeDomain } from './grant.js';

/** Bounds of text fields, in characters after normalisation (docs/ingest.md). */
export const LIMITS = {
  source: 64,
  externalId: 200,
  title: 500,
  description: 20_000,
  agency: 500,
  url: 2_048,
  category: 100,
  categories: 50,
} as const;

/** A source name: one NATS subject token, lower case (`business-gov-au`, `grantconnect`). */
export const SOURCE_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

const printed = z.union([z.string(), z.number()]).nullish();
const printedList = z.union([z.string(), z.array(z.string())]).nullish();

/**
 * A raw grant record as published on `scrape.grants.<source>`: the types a field may
 * arrive as, before normalisation. Unknown fields are stripped (ignored).
 */
export const RawGrantRecord = z.object({
  source: z.string().nullish(),
  externalId: z.union([z.string(), z.number().int()]),
  title: z.string(),
  description: z.string().nullish(),
  agency: z.string().nullish(),
  url: z.string().nullish(),
  amount: printed,
  minAmount: printed,
  maxAmount: printed,
  currency: z.string().nullish(),
  openDate: z.string().nullish(),
  closeDate: z.string().nullish(),
  status: z.string().nullish(),
  categories: printedList,
  locations: printedList,
  vicOutcomeDomain: z.string().nullish(),
});
export type RawGrantRecord = z.input<typeof RawGrantRecord>;

/** A normalised record: what ingest upserts on (`source`, `externalId`). */
export const GrantInput = z.object({
  source: z.string().min(1).max(LIMITS.source).regex(SOURCE_PATTERN),
  externalId: z.string().min(1).max(LIMITS.externalId),
  title: z.string().min(1).max(LIMITS.title),
  description: z.string().max(LIMITS.description).nullable(),
  agency: z.string().max(LIMITS.agency).nullable(),
  url: z.string().max(LIMITS.url).nullable(),
  minAmount: Amount.nullable(),
  maxAmount: Amount.nullable(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  openDate: IsoDate.nullable(),
  closeDate: IsoDate.nullable(),
  status: GrantStatus,
  categories: z.array(z.string().min(1).max(LIMITS.category)).max(LIMITS.categories),
  locations: z.array(Location),
  vicOutcomeDomain: VicOutcomeDomain.nullable(),
});
export type GrantInput = z.infer<typeof GrantInput>;

export interface RecordError {
  path: string;
  message: string;
}

export type NormaliseResult = { ok: true; record: GrantInput } | { ok: false; errors: RecordError[] };

export interface NormaliseOptions {
  /**
   * Today as `YYYY-MM-DD` (default: the UTC date now). A record without a status gets one
   * from its dates relative to today: closed after its close date, upcoming before its
   * open date, open otherwise.
   */
  today?: string;
}

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
  const status = raw.status == null || plainText(raw.status) === '' ? statusFromDates(openDate, closeDate, today) : normaliseStatus(raw.status, fail);
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

type Fail = (path: string, message: string) => null;

function toRecordError(issue: z.core.$ZodIssue): RecordError {
  return { path: issue.path.map(String).join('.'), message: issue.message };
}

// ---------------------------------------------------------------------------------------
// Text

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '–', mdash: '—', rsquo: '’', lsquo: '‘' };

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Control characters Postgres text cannot hold (NUL) or a reader cannot see. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** One line of text: controls removed, whitespace runs collapsed, trimmed. */
function plainText(text: string): string {
  const nfc = /[^\x00-\x7f]/.test(text) ? text.normalize('NFC') : text;
  return nfc.replace(CONTROL, '').replace(/\s+/g, ' ').trim();
}

const TAG = /<\/?[a-z!][^>]*>/i;

function normaliseTitle(text: string, fail: Fail): string | null {
  const title = plainText(decodeEntities(text));
  // Markup in a title means the scraper took HTML where it meant text: rejected so the
  // parser gets fixed, rather than guessed at (docs/ingest.md).
  if (TAG.test(text) || TAG.test(title)) return fail('title', 'must be plain text, not markup');
  if (title.length === 0) return fail('title', 'must not be empty');
  if (title.length > LIMITS.title) return fail('title', `must be at most ${LIMITS.title} characters (got ${title.length})`);
  return title;
}

/**
 * Free text: tags stripped (block tags become line breaks when `keepLines`), entities
 * decoded, whitespace collapsed; empty becomes null; longer than `max` rejects.
 */
function boundedText(path: string, value: string | null | undefined, max: number, fail: Fail, opts: { keepLines?: boolean } = {}): string | null {
  if (value == null) return null;
  // A bound on the input too, so a megabyte of markup costs no regex work.
  if (value.length > max * 4) return fail(path, `must be at most ${max} characters (got ${value.length})`);
  let text = value;
  if (text.includes('<')) {
    text = text.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ');
    text = opts.keepLines ? text.replace(/<\s*(br|\/p|\/div|\/li|\/h\d)\b[^>]*>/gi, '\n') : text;
    text = text.replace(/<\/?[a-z!][^>]*>/gi, ' ');
  }
  text = decodeEntities(text);
  text = opts.keepLines
    ? (/[^\x00-\x7f]/.test(text) ? text.normalize('NFC') : text)
        .replace(CONTROL, '')
        .split(/\r?\n/)
        .map((line) => line.replace(/\s+/g, ' ').trim())
        .join('\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim()
    : plainText(text);
  if (text.length === 0) return null;
  if (text.length > max) return fail(path, `must be at most ${max} characters (got ${text.length})`);
  return text;
}

function normaliseSource(value: string | null | undefined, subjectSource: string, fail: Fail): string | null {
  const source = value == null || value.trim() === '' ? subjectSource : value.trim();
  if (source !== subjectSource) return fail('source', `must be the subject's source "${subjectSource}" (a scraper publishes only its own records)`);
  if (!SOURCE_PATTERN.test(source) || source.length > LIMITS.source) return fail('source', 'must be lower-case letters, digits, - or _ (at most 64)');
  return source;
}

function normaliseUrl(value: string | null | undefined, fail: Fail): string | null {
  if (value == null || value.trim() === '') return null;
  const text = value.trim();
  if (text.length > LIMITS.url) return fail('url', `must be at most ${LIMITS.url} characters`);
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('url', 'must be an http or https URL');
    return url.toString();
  } catch {
    return fail('url', 'must be an absolute http or https URL');
  }
}

// ---------------------------------------------------------------------------------------
// Amounts

/** What a site prints when there is no amount to give. */
const NO_VALUE = /^(|-|–|n\/?a|nil|none|tba|tbc|tbd|varies|various|not (applicable|specified|stated|available)|see (guidelines|website|details))$/i;

const UNITS: Record<string, number> = { k: 1e3, thousand: 1e3, m: 1e6, mil: 1e6, mill: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9 };
const CURRENCY_WORDS: Record<string, string> = { aud: 'AUD', 'a$': 'AUD', 'au$': 'AUD', usd: 'USD', 'us$': 'USD', nzd: 'NZD', 'nz$': 'NZD', eur: 'EUR', gbp: 'GBP' };

type Parsed = { kind: 'exact' | 'min' | 'max' | 'range'; min: number | null; max: number | null; currency?: string } | { kind: 'none' } | { kind: 'error'; message: string };

interface Money {
  value: number;
  unit: number | undefined;
}

const MONEY = /^\$?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*(k|thousand|m|mil|mill|million|b|bn|billion)?$/;

function parseMoney(text: string): Money | undefined {
  const m = MONEY.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]!.replace(/,/g, ''));
  return Number.isFinite(value) ? { value, unit: m[2] ? UNITS[m[2]] : undefined } : undefined;
}

/** "$5,000", "AUD 5000", "Up to $20 million", "$5,000 - $50,000", "From $1,000", "$10k+". */
export function parseAmountText(printedValue: string | number): Parsed {
  if (typeof printedValue === 'number') {
    if (!Number.isFinite(printedValue)) return { kind: 'error', message: 'must be a finite number' };
    return { kind: 'exact', min: printedValue, max: printedValue };
  }
  let text = plainText(decodeEntities(printedValue)).toLowerCase();
  if (NO_VALUE.test(text)) return { kind: 'none' };
  // Fast path for the common shapes: "$5,000" and "$5,000 - $50,000".
  const plain = parseMoney(text);
  if (plain) {
    const value = plain.value * (plain.unit ?? 1);
    return { kind: 'exact', min: value, max: value };
  }
  const simpleRange = /^(\$?[\d,.]+\s*[a-z]*) ?[-–] ?(\$?[\d,.]+\s*[a-z]*)$/.exec(text);
  if (simpleRange) {
    const low = parseMoney(simpleRange[1]!);
    const high = parseMoney(simpleRange[2]!);
    if (low && high) return { kind: 'range', min: low.value * (low.unit ?? high.unit ?? 1), max: high.value * (high.unit ?? 1) };
  }
  let currency: string | undefined;
  text = text.replace(/(au\$|a\$|us\$|nz\$|\b(?:aud|usd|nzd|eur|gbp)\b)/g, (word) => {
    currency ??= CURRENCY_WORDS[word];
    return ' ';
  });
  // Qualifiers that do not change the figure.
  text = text
    .replace(/\((?:[^()]*)\)/g, ' ')
    .replace(/\b(per (year|annum|project|applicant|organisation|organization|grant)|p\.?a\.?|each|(excl?\.?|excluding|incl?\.?|including|plus) gst|gst (exclusive|inclusive)|in total|total|funding|grants?( of)?|approximately|approx\.?|about|around)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (/^[-−]\s*\$?\s*[\d.]/.test(text) || /^\$\s*[-−]/.test(text) || /^minus\b/.test(text)) return { kind: 'error', message: 'must not be negative' };
  let kind: 'exact' | 'min' | 'max' = 'exact';
  const upTo = /^(up to|maximum( of)?|max\.?|no more than|capped at|not exceeding|to)\s+/;
  const from = /^(from|minimum( of)?|min\.?|at least|starting (at|from)|over|more than)\s+/;
  if (upTo.test(text)) {
    kind = 'max';
    text = text.replace(upTo, '');
  } else if (from.test(text)) {
    kind = 'min';
    text = text.replace(from, '');
  }
  if (/\s*(\+|or more|and above|and over)$/.test(text)) {
    if (kind === 'max') return { kind: 'error', message: `"${printedValue}" gives both "up to" and "or more"` };
    kind = 'min';
    text = text.replace(/\s*(\+|or more|and above|and over)$/, '');
  }
  const range = /^(?:between\s+)?(.+?)\s*(?:-|–|—|\bto\b|\band\b)\s*(.+)$/.exec(text);
  if (range && (kind === 'exact' || (kind === 'min' && /\bto\b/.test(text)))) {
    const low = parseMoney(range[1]!);
    const high = parseMoney(range[2]!);
    if (!low || !high) return { kind: 'error', message: `"${printedValue}" is not an amount or a range of amounts` };
    // "$1 - 2 million": the unit printed once applies to both ends.
    const min = low.value * (low.unit ?? high.unit ?? 1);
    const max = high.value * (high.unit ?? 1);
    return { kind: 'range', min, max, ...(currency ? { currency } : {}) };
  }
  const money = parseMoney(text);
  if (!money) return { kind: 'error', message: `"${printedValue}" is not an amount` };
  const value = money.value * (money.unit ?? 1);
  const cur = currency ? { currency } : {};
  if (kind === 'max') return { kind, min: null, max: value, ...cur };
  if (kind === 'min') return { kind, min: value, max: null, ...cur };
  return { kind, min: value, max: value, ...cur };
}

function checkAmount(path: string, value: number | null, fail: Fail): number | null {
  if (value === null) return null;
  if (value < 0) return fail(path, 'must not be negative');
  if (value > MAX_AMOUNT) return fail(path, `must be at most ${MAX_AMOUNT.toLocaleString('en-AU')} (the largest amount stored)`);
  // numeric(14,2): cents, rounded as Postgres would.
  return Math.round(value * 100) / 100;
}

/**
 * minAmount / maxAmount / amount into one min and max. An explicit minAmount or maxAmount
 * wins over what `amount` or the other field's range implies.
 */
function normaliseAmounts(raw: z.infer<typeof RawGrantRecord>, fail: Fail): { min: number | null; max: number | null; currency?: string } {
  let min: number | null = null;
  let max: number | null = null;
  let impliedMin: number | null = null;
  let impliedMax: number | null = null;
  let currency: string | undefined;
  let failed = false;
  const parse = (path: string, value: string | number | null | undefined): Exclude<Parsed, { kind: 'error' }> | undefined => {
    if (value == null) return undefined;
    const p = parseAmountText(value);
    if (p.kind === 'error') {
      failed = true;
      fail(path, p.message);
      return undefined;
    }
    if (p.kind !== 'none' && p.currency) {
      if (currency && currency !== p.currency) {
        failed = true;
        fail(path, `is in ${p.currency}, another amount in ${currency}`);
      }
      currency ??= p.currency;
    }
    return p;
  };
  const minP = parse('minAmount', raw.minAmount);
  if (minP && minP.kind !== 'none') {
    if (minP.kind === 'max') {
      failed = true;
      fail('minAmount', `"${raw.minAmount}" gives a maximum, not a minimum`);
    } else {
      min = minP.min;
      if (minP.kind === 'range') impliedMax = minP.max;
    }
  }
  const maxP = parse('maxAmount', raw.maxAmount);
  if (maxP && maxP.kind !== 'none') {
    if (maxP.kind === 'min') {
      failed = true;
      fail('maxAmount', `"${raw.maxAmount}" gives a minimum, not a maximum`);
    } else {
      max = maxP.max;
      if (maxP.kind === 'range') impliedMin = maxP.min;
    }
  }
  const amountP = parse('amount', raw.amount);
  if (amountP && amountP.kind !== 'none') {
    impliedMin ??= amountP.min;
    impliedMax ??= amountP.max;
  }
  if (raw.minAmount == null) min = impliedMin;
  if (raw.maxAmount == null) max = impliedMax;
  const checkedMin = checkAmount('minAmount', min, fail);
  const checkedMax = checkAmount('maxAmount', max, fail);
  if ((min !== null && checkedMin === null) || (max !== null && checkedMax === null)) failed = true;
  if (!failed && checkedMin !== null && checkedMax !== null && checkedMin > checkedMax) {
    fail('minAmount', `must not be above maxAmount (${checkedMin} > ${checkedMax})`);
  }
  return { min: checkedMin, max: checkedMax, ...(currency ? { currency } : {}) };
}

function normaliseCurrency(value: string | null | undefined, fromAmounts: string | undefined, fail: Fail): string {
  if (value == null || value.trim() === '') return fromAmounts ?? 'AUD';
  const code = CURRENCY_WORDS[value.trim().toLowerCase()] ?? value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) {
    fail('currency', 'must be a three-letter ISO 4217 code such as AUD');
    return 'AUD';
  }
  if (fromAmounts && fromAmounts !== code) fail('currency', `is ${code} but the amount is printed in ${fromAmounts}`);
  return code;
}

// ---------------------------------------------------------------------------------------
// Dates

const MONTHS: Record<string, number> = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11, november: 11, dec: 12, december: 12,
};
const NO_DATE = /^(|-|–|n\/?a|tba|tbc|tbd|ongoing|rolling|none|not (applicable|specified)|until funds (are )?(exhausted|expended)|open until funds (are )?(exhausted|expended))$/i;

/** Years outside this window are a parsing accident, not a grant date. */
const YEAR_RANGE = [1990, 2100] as const;

function isoOf(year: number, month: number, day: number): string | undefined {
  if (month < 1 || month > 12 || day < 1) return undefined;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > days) return undefined;
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

type DateParse = { ok: true; date: string | null } | { ok: false; message: string };

/**
 * "2026-03-31", "2026-03-31T17:00:00+11:00" (the date as printed, no zone shift),
 * "31/03/2026", "31-3-26", "31.03.2026" (Australian: day first), "31 March 2026",
 * "Tuesday, 31st Mar 2026", "March 31, 2026", with times of day and zones around them
 * ignored ("5:00pm AEDT 31 March 2026").
 */
export function parseDateText(value: string): DateParse {
  const original = plainText(value);
  if (NO_DATE.test(original)) return { ok: true, date: null };
  const simple = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(original);
  if (simple) return checkedDate(Number(simple[3]), Number(simple[2]), Number(simple[1]), value);
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?$/i.exec(original);
  let year: number, month: number, day: number;
  if (iso) {
    [year, month, day] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  } else {
    const text = original
      .toLowerCase()
      .replace(/\b\d{1,2}([:.]\d{2})?\s*(am|pm)\b/g, ' ')
      .replace(/\b\d{1,2}:\d{2}(:\d{2})?\b/g, ' ')
      .replace(/\b(a[ecw][sd]t|aet|utc|gmt|midnight|noon|midday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday|on|at|by|the|of|closes?|closing|opens?|opening|date)\b/g, ' ')
      .replace(/(\d)(st|nd|rd|th)\b/g, '$1')
      .replace(/[,()]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    const numeric = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$/.exec(text);
    const dayMonth = /^(\d{1,2})[\s-]([a-z]+)\.?[\s-](\d{4})$/.exec(text);
    const monthDay = /^([a-z]+)\.? (\d{1,2}) (\d{4})$/.exec(text);
    if (numeric) {
      day = Number(numeric[1]);
      month = Number(numeric[2]);
      year = numeric[3]!.length === 2 ? 2000 + Number(numeric[3]) : Number(numeric[3]);
    } else if (dayMonth && MONTHS[dayMonth[2]!]) {
      day = Number(dayMonth[1]);
      month = MONTHS[dayMonth[2]!]!;
      year = Number(dayMonth[3]);
    } else if (monthDay && MONTHS[monthDay[1]!]) {
      day = Number(monthDay[2]);
      month = MONTHS[monthDay[1]!]!;
      year = Number(monthDay[3]);
    } else {
      return { ok: false, message: `"${clip(value)}" is not a date (expected e.g. 31/03/2026, 31 March 2026 or 2026-03-31)` };
    }
  }
  return checkedDate(year, month, day, value);
}

function checkedDate(year: number, month: number, day: number, value: string): DateParse {
  const date = isoOf(year, month, day);
  if (!date) return { ok: false, message: `"${clip(value)}" is not a calendar date` };
  if (year < YEAR_RANGE[0] || year > YEAR_RANGE[1]) return { ok: false, message: `year ${year} is outside ${YEAR_RANGE[0]}–${YEAR_RANGE[1]}` };
  return { ok: true, date };
}

function optionalDate(path: string, value: string | null | undefined, fail: Fail): string | null {
  if (value == null) return null;
  if (value.length > 200) return fail(path, 'is not a date (longer than 200 characters)');
  const parsed = parseDateText(value);
  return parsed.ok ? parsed.date : fail(path, parsed.message);
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

// ---------------------------------------------------------------------------------------
// Enumerations

const STATUS_WORDS: Record<string, z.infer<typeof GrantStatus>> = {
  open: 'open', 'open now': 'open', 'now open': 'open', 'currently open': 'open', 'closing soon': 'open', ongoing: 'open', 'open - ongoing': 'open', active: 'open',
  closed: 'closed', 'now closed': 'closed', 'applications closed': 'closed', 'closed - ongoing': 'closed', expired: 'closed',
  upcoming: 'upcoming', 'opening soon': 'upcoming', 'coming soon': 'upcoming', forecast: 'upcoming', 'forecast opportunity': 'upcoming', planned: 'upcoming', 'not yet open': 'upcoming',
  draft: 'draft',
};

function normaliseStatus(value: string, fail: Fail): z.infer<typeof GrantStatus> | null {
  const key = plainText(value).toLowerCase().replace(/[–—]/g, '-').replace(/[.!]$/, '');
  return STATUS_WORDS[key] ?? fail('status', `"${clip(value)}" is not a known status (open, closed, upcoming, draft, or how sites print them)`);
}

function statusFromDates(openDate: string | null, closeDate: string | null, today: string): z.infer<typeof GrantStatus> {
  if (closeDate && closeDate < today) return 'closed';
  if (openDate && openDate > today) return 'upcoming';
  return 'open';
}

const LOCATION_WORDS: Record<string, z.infer<typeof Location>> = {
  act: 'ACT', 'australian capital territory': 'ACT',
  nsw: 'NSW', 'new south wales': 'NSW',
  nt: 'NT', 'northern territory': 'NT',
  qld: 'QLD', queensland: 'QLD',
  sa: 'SA', 'south australia': 'SA',
  tas: 'TAS', tasmania: 'TAS',
  vic: 'VIC', victoria: 'VIC',
  wa: 'WA', 'western australia': 'WA',
  national: 'national', nationwide: 'national', 'australia-wide': 'national', 'australia wide': 'national', australia: 'national',
  'all states': 'national', 'all states and territories': 'national', 'all of australia': 'national',
};

function normaliseLocations(value: string | string[] | null | undefined, fail: Fail): z.infer<typeof Location>[] {
  if (value == null) return [];
  const items = (Array.isArray(value) ? value : value.split(/[,;/|]|\band\b|&/i)).map((s) => plainText(decodeEntities(s)).replace(/\.$/, '')).filter((s) => s.length > 0);
  // "All states and territories" is split above; look the whole text up first.
  if (!Array.isArray(value)) {
    const whole = LOCATION_WORDS[plainText(value).toLowerCase()];
    if (whole) return [whole];
  }
  if (items.length > LOCATIONS.length * 2) {
    fail('locations', `has ${items.length} entries; at most ${LOCATIONS.length * 2}`);
    return [];
  }
  const found = new Set<z.infer<typeof Location>>();
  items.forEach((item, i) => {
    const code = LOCATION_WORDS[item.toLowerCase()];
    if (code) found.add(code);
    else fail(Array.isArray(value) ? `locations.${i}` : 'locations', `"${clip(item)}" is not an Australian state or territory, or national`);
  });
  // Stored in the enumeration's order, so a re-scrape listing them differently changes nothing.
  return LOCATIONS.filter((code) => found.has(code));
}

function normaliseCategories(value: string | string[] | null | undefined, fail: Fail): string[] {
  if (value == null) return [];
  const items = Array.isArray(value) ? value : value.split(/[,;|]/);
  if (items.length > LIMITS.categories) {
    fail('categories', `must have at most ${LIMITS.categories} entries (got ${items.length})`);
    return [];
  }
  const out: string[] = [];
  items.forEach((item, i) => {
    const text = plainText(decodeEntities(item.replace(/<\/?[a-z!][^>]*>/gi, ' ')));
    if (text.length > LIMITS.category) fail(Array.isArray(value) ? `categories.${i}` : 'categories', `must be at most ${LIMITS.category} characters each`);
    else if (text.length > 0 && !out.includes(text)) out.push(text);
  });
  return out;
}

function normaliseVicOutcomeDomain(value: string | null | undefined, fail: Fail): z.infer<typeof VicOutcomeDomain> | null {
  if (value == null || value.trim() === '') return null;
  // Strict: case and surrounding space only; a near miss ("Healthcare") is rejected, not guessed.
  const key = value.trim().toLowerCase();
  return (VIC_OUTCOME_DOMAINS as readonly string[]).includes(key)
    ? (key as z.infer<typeof VicOutcomeDomain>)
    : fail('vicOutcomeDomain', `"${clip(value)}" is not a Victorian outcome domain (${VIC_OUTCOME_DOMAINS.join(', ')})`);
}
