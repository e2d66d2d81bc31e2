/**
 * Dates: reads `openDate` and `closeDate` as sites print them (ISO, Australian day-first,
 * month names, with times of day and zones around them) into `YYYY-MM-DD`. A date that is
 * not on the calendar, or outside the years a grant can have, rejects.
 */
import type { Fail } from './fail.js';
import { clip, plainText } from './text.js';

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

/** A date field: null when absent or printed as "no date" (ongoing, TBA); rejects what is not a date. */
export function optionalDate(path: string, value: string | null | undefined, fail: Fail): string | null {
  if (value == null) return null;
  if (value.length > 200) return fail(path, 'is not a date (longer than 200 characters)');
  const parsed = parseDateText(value);
  return parsed.ok ? parsed.date : fail(path, parsed.message);
}
