/**
 * Status: reads the status a site printed ("Open now", "Open - closing soon", "Applications
 * are now closed", "Opening soon", "Forecast") into the Grant enumeration, or, when the site
 * printed none or says it is not known yet ("TBA"), derives it from the record's dates
 * relative to today.
 *
 * # How a text is read
 * A known word or phrase (STATUS_WORDS) is taken as it is. Otherwise the text is cut into
 * clauses at dashes, commas, colons and semicolons, and the first clause that names a state
 * gives it: "Currently CLOSED - expected to open in April 2020" is closed (what is true now
 * comes first), "Open - closing soon" is open. Within a clause, "not yet open" and "opening
 * soon" say upcoming, "closing soon" says open, then "closed", then "open" or "closes".
 * "TBA" or "By invitation only" say nothing of the state: derived from the dates.
 */
import type { z } from 'zod';
import type { GrantStatus } from '../domain/grant.js';
import type { Fail } from './fail.js';
import { clip, plainText } from './text.js';
import { saysNotKnown } from './unknown.js';

type Status = z.infer<typeof GrantStatus>;

const STATUS_WORDS: Record<string, Status> = {
  open: 'open', 'open now': 'open', 'now open': 'open', 'currently open': 'open', 'closing soon': 'open', ongoing: 'open', 'open - ongoing': 'open', active: 'open',
  closed: 'closed', 'now closed': 'closed', 'applications closed': 'closed', 'closed - ongoing': 'closed', expired: 'closed',
  upcoming: 'upcoming', 'opening soon': 'upcoming', 'coming soon': 'upcoming', forecast: 'upcoming', 'forecast opportunity': 'upcoming', planned: 'upcoming', 'not yet open': 'upcoming',
  draft: 'draft',
};

/** Longest status text read: a status is a phrase, not a paragraph. */
const MAX_TEXT = 200;

/** Phrases of a clause, in the order they are looked for; the first found gives the status. */
const CLAUSE_RULES: [RegExp, Status][] = [
  [/\bnot (?:yet )?(?:open|opened)\b|\b(?:opening|opens|open|reopening|reopens) (?:soon|shortly|later)\b|\bcoming soon\b|\bforecast\b|\bupcoming\b|\b(?:will|to) (?:re)?open\b|\bopens? (?:on|in|from)\b|\bplanned\b|\bpre-?open\b/, 'upcoming'],
  [/\b(?:closing|closes|close) (?:soon|shortly)\b/, 'open'],
  [/\bclosed\b|\bnot (?:currently|presently) open\b|\bended\b|\bexpired\b|\bno longer (?:open|available|accepting)\b|\bnot (?:currently )?accepting\b|\bfinished\b|\bcompleted\b|\bsuspended\b|\bpaused\b|\barchived\b/, 'closed'],
  [/\bopen(?:ed)?\b|\bnow accepting\b|\baccepting (?:applications|submissions|expressions)\b|\bongoing\b|\bactive\b|\bclos(?:ing|es)\b/, 'open'],
  [/\bdraft\b/, 'draft'],
];

/** A status text read: a status, "not known yet", or nothing recognised. */
export function readStatus(value: string): Status | 'not known' | undefined {
  const text = plainText(value).toLowerCase().replace(/[–—]/g, '-');
  const key = text.replace(/[.!]+$/, '');
  if (STATUS_WORDS[key]) return STATUS_WORDS[key];
  for (const clause of text.split(/\s+-+\s+|[,;:|()]/)) {
    for (const [pattern, status] of CLAUSE_RULES) if (pattern.test(clause)) return status;
  }
  return saysNotKnown(text) || /\binvitation\b/.test(text) ? 'not known' : undefined;
}

/**
 * A printed status read by `readStatus`; null when it says the status is not known yet
 * (the caller derives it from the dates); any other text rejects.
 */
export function normaliseStatus(value: string, fail: Fail): Status | 'not known' | null {
  if (value.length > MAX_TEXT) return fail('status', `must be at most ${MAX_TEXT} characters`);
  return readStatus(value) ?? fail('status', `"${clip(value)}" is not a known status (open, closed, upcoming, draft, or how sites print them)`);
}

/** The status of a record that printed none (see `NormaliseOptions.today`). */
export function statusFromDates(openDate: string | null, closeDate: string | null, today: string): Status {
  if (closeDate && closeDate < today) return 'closed';
  if (openDate && openDate > today) return 'upcoming';
  return 'open';
}
