/**
 * Dates: reads `openDate` and `closeDate` as sites print them (date-text.ts: ISO,
 * Australian day-first, month names, with times of day, zones, weekdays and words around
 * them) into `YYYY-MM-DD`, or null when the site says the date is not known yet. A date
 * that is not on the calendar, or outside the years a grant can have, rejects.
 */
import type { Fail } from './fail.js';
import { parseDateText } from './date-text.js';

export { parseDateText } from './date-text.js';

/** Longest date text read; longer is not a date field (the bound keeps regex work small). */
const MAX_INPUT = 200;

/** A date field: null when absent or printed as "not known yet" (TBA, ongoing); rejects what is not a date. */
export function optionalDate(path: string, value: string | null | undefined, fail: Fail): string | null {
  if (value == null) return null;
  if (value.length > MAX_INPUT) return fail(path, `is not a date (longer than ${MAX_INPUT} characters)`);
  const parsed = parseDateText(value);
  return parsed.ok ? parsed.date : fail(path, parsed.message);
}
