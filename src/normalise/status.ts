/**
 * Status: reads the status word a site printed ("Open now", "Closing soon", "Forecast")
 * into the Grant enumeration, or, when the site printed none, derives it from the record's
 * dates relative to today.
 */
import type { z } from 'zod';
import type { GrantStatus } from '../domain/grant.js';
import type { Fail } from './fail.js';
import { clip, plainText } from './text.js';

const STATUS_WORDS: Record<string, z.infer<typeof GrantStatus>> = {
  open: 'open', 'open now': 'open', 'now open': 'open', 'currently open': 'open', 'closing soon': 'open', ongoing: 'open', 'open - ongoing': 'open', active: 'open',
  closed: 'closed', 'now closed': 'closed', 'applications closed': 'closed', 'closed - ongoing': 'closed', expired: 'closed',
  upcoming: 'upcoming', 'opening soon': 'upcoming', 'coming soon': 'upcoming', forecast: 'upcoming', 'forecast opportunity': 'upcoming', planned: 'upcoming', 'not yet open': 'upcoming',
  draft: 'draft',
};

/**
 * A printed status word looked up in STATUS_WORDS, ignoring case, spacing, the kind of dash
 * and a final . or !; any other word rejects.
 */
export function normaliseStatus(value: string, fail: Fail): z.infer<typeof GrantStatus> | null {
  const key = plainText(value).toLowerCase().replace(/[–—]/g, '-').replace(/[.!]$/, '');
  return STATUS_WORDS[key] ?? fail('status', `"${clip(value)}" is not a known status (open, closed, upcoming, draft, or how sites print them)`);
}

/** The status of a record that printed none (see `NormaliseOptions.today`). */
export function statusFromDates(openDate: string | null, closeDate: string | null, today: string): z.infer<typeof GrantStatus> {
  if (closeDate && closeDate < today) return 'closed';
  if (openDate && openDate > today) return 'upcoming';
  return 'open';
}
