/**
 * One printed date text read into a calendar date, "not known yet", or an error. Used by
 * dates.ts for `openDate` and `closeDate`.
 *
 * # How a text is read
 * Times of day (`5pm`, `2.00 PM`, `12 noon`, `11:59pm`), time zones (`AEDT`, `(Canberra
 * time)`, `Australian Central Daylight Time (ACDT)`), weekdays, ordinals and the words
 * around a date (`on`, `Close`, `before`, `or until funds are expended`) do not change it;
 * the date is found in what is left: `31 March 2026`, `23-May-23`, `March 31, 2026`,
 * `31/03/2026` (day first, Australian), `2026-03-31`. One date is the value; two different
 * dates, or a date not on the calendar, reject.
 *
 * A text with no full date is null when it says the date is not known yet or not to the
 * day: `TBA 2023`, `2:00pm AEDT on TBC`, `Ongoing`, `until funds are exhausted`, a month
 * without a day (`August 2019`, `mid-April`), a day without a year (`15 January`, `30 June
 * each year`), a year alone. Anything else (`soon`) rejects.
 */
import { clip, plainText } from './text.js';
import { saysNotKnown } from './unknown.js';

export type DateParse = { ok: true; date: string | null } | { ok: false; message: string };

const MONTHS: Record<string, number> = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11, november: 11, dec: 12, december: 12,
};
const M = `(${Object.keys(MONTHS).sort((a, b) => b.length - a.length).join('|')})`;

/** Years outside this window are a parsing accident, not a grant date. */
export const YEAR_RANGE = [1990, 2100] as const;
/** A date text longer than this is a paragraph, not a date field (a parser reading the wrong element). */
const MAX_DATE_TEXT = 160;

/** Patterns of a full date in running text, tried in this order; each gives [year, month, day] from its match. */
const FULL_DATES: [RegExp, (m: RegExpMatchArray) => [number, number, number]][] = [
  [/\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b/g, (m) => [Number(m[1]), Number(m[2]), Number(m[3])]],
  [new RegExp(`\\b(\\d{1,2})[\\s-]+${M}\\.?[\\s-]+(\\d{4})\\b`, 'g'), (m) => [Number(m[3]), MONTHS[m[2]!]!, Number(m[1])]],
  [new RegExp(`\\b(\\d{1,2})-${M}-(\\d{2})\\b`, 'g'), (m) => [2000 + Number(m[3]), MONTHS[m[2]!]!, Number(m[1])]],
  [new RegExp(`\\b${M}\\.?\\s+(\\d{1,2})\\s+(\\d{4})\\b`, 'g'), (m) => [Number(m[3]), MONTHS[m[1]!]!, Number(m[2])]],
  [/\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b/g, (m) => [m[3]!.length === 2 ? 2000 + Number(m[3]) : Number(m[3]), Number(m[2]), Number(m[1])]],
];

/** A day and month without a year ("15 January", "July 14"); "may" only beside a number, being also a verb. */
const DAY_MONTH = new RegExp(`\\b(\\d{1,2})\\s+${M}\\b|\\b${M}\\.?\\s+(\\d{1,2})\\b`);
const MONTH_WORD = /\b(jan|january|feb|february|mar|march|apr|april|jun|june|jul|july|aug|august|sep|sept|september|oct|october|nov|november|dec|december)\b/;
const RECURRING = /\b(?:each|every) (?:year|month|week|fortnight|quarter)\b|\b(?:annually|yearly|monthly|weekly|fortnightly|quarterly)\b/;
const OTHER_DATE = /\b(updated|published|posted|modified|reviewed|printed)\b/;
const YEAR_ONLY = /^(?:(?:fy|financial year)\s*)?(\d{4})(?:\s*[-/–]\s*(?:\d{2}|\d{4}))?$/;

/** Times of day and time zones, which say nothing of the date. */
function withoutTimes(text: string): string {
  return text
    .replace(/[()[\]]/g, ' ')
    .replace(/\b\d{1,2}(?:[:.]\d{2})?\s*(?:noon|midnight|midday)\b/g, ' ')
    .replace(/\b\d{1,2}(?:[:.]\d{2}){0,2}\s*(?:a\.?m|p\.?m)\.?(?![a-z])/g, ' ')
    .replace(/\b\d{1,2}:\d{2}(?::\d{2})?\b/g, ' ')
    .replace(/\b(?:noon|midnight|midday)\b/g, ' ')
    .replace(/\baustralian (?:eastern|central|western) (?:standard |daylight |summer )?time\b/g, ' ')
    .replace(/\b(?:[a-z]+ )?(?:local|standard|daylight) time\b|\b(?:canberra|sydney|melbourne|brisbane|adelaide|perth|hobart|darwin) time\b/g, ' ')
    .replace(/\b(?:a[cew]?[sd]t|aet|acwst|utc|gmt)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?\b/g, ' ')
    .replace(/(\d)(?:st|nd|rd|th)\b/g, '$1')
    .replace(/\b(\d{1,2}) of\b/g, '$1')
    .replace(/,/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * "2026-03-31", "2026-03-31T17:00:00+11:00" (the date as printed, no zone shift),
 * "31/03/2026", "5pm Friday, 28 November 2025, Australian Central Daylight Time (ACDT)",
 * "23-May-23", "TBA 2023" (null), "August 2019" (null).
 */
export function parseDateText(value: string): DateParse {
  const original = plainText(value);
  if (original === '') return { ok: true, date: null };
  const simple = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(original);
  if (simple) return checkedDate(Number(simple[3]), Number(simple[2]), Number(simple[1]), value);
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?$/i.exec(original);
  if (iso) return checkedDate(Number(iso[1]), Number(iso[2]), Number(iso[3]), value);
  if (original.length > MAX_DATE_TEXT) return { ok: false, message: `is not a date (longer than ${MAX_DATE_TEXT} characters)` };

  let text = withoutTimes(original.toLowerCase());
  // "Page last updated: 24/03/23": a date, but of the page, not of the grant (a parser reading the wrong element).
  const other = OTHER_DATE.exec(text);
  if (other) return { ok: false, message: `"${clip(value)}" is the date the page was ${other[1]}, not an opening or closing date` };
  const found: [number, number, number][] = [];
  for (const [pattern, read] of FULL_DATES) {
    text = text.replace(pattern, (...args) => {
      found.push(read(args.slice(0, -2) as RegExpMatchArray));
      return ' ';
    });
  }
  if (found.length > 0) {
    const checked = found.map(([y, m, d]) => checkedDate(y, m, d, value));
    const failed = checked.find((c) => !c.ok);
    if (failed) return failed;
    const dates = [...new Set(checked.map((c) => (c as { date: string }).date))];
    if (dates.length > 1) return { ok: false, message: `"${clip(value)}" gives ${dates.length} dates (${dates.join(', ')}); print one` };
    return { ok: true, date: dates[0]! };
  }
  return notToTheDay(text, value);
}

/** A text without a full date: null when it says the date is not known (to the day), else an error. */
function notToTheDay(text: string, value: string): DateParse {
  const dayMonth = DAY_MONTH.exec(text);
  if (dayMonth) {
    const day = Number(dayMonth[1] ?? dayMonth[4]);
    const month = MONTHS[(dayMonth[2] ?? dayMonth[3])!]!;
    // The longest the month can be in any year (29 February included).
    if (day < 1 || day > new Date(Date.UTC(2000, month, 0)).getUTCDate()) return { ok: false, message: `"${clip(value)}" is not a calendar date` };
    return { ok: true, date: null };
  }
  const year = YEAR_ONLY.exec(text);
  if (year && Number(year[1]) >= YEAR_RANGE[0] && Number(year[1]) <= YEAR_RANGE[1]) return { ok: true, date: null };
  if (saysNotKnown(text, 'date') || RECURRING.test(text) || MONTH_WORD.test(text)) return { ok: true, date: null };
  return { ok: false, message: `"${clip(value)}" is not a date (expected e.g. 31/03/2026, 31 March 2026 or 2026-03-31)` };
}

/** A day on the calendar within YEAR_RANGE, as YYYY-MM-DD. */
export function checkedDate(year: number, month: number, day: number, value: string): DateParse {
  const days = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (day < 1 || day > days) return { ok: false, message: `"${clip(value)}" is not a calendar date` };
  if (year < YEAR_RANGE[0] || year > YEAR_RANGE[1]) return { ok: false, message: `year ${year} is outside ${YEAR_RANGE[0]}–${YEAR_RANGE[1]}` };
  return { ok: true, date: `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}` };
}
