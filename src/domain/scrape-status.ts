/**
 * What scrapers publish besides records (CONTRACT section 4): the status message on
 * `scrape.status.<source>`, and the subject names of the scrape side of the bus.
 *
 * - `ok`: the last run fetched and published everything it found.
 * - `degraded`: the last run finished but something was off (a page failed, records that
 *   ingest will reject, an empty list that suggests the site's markup changed).
 * - `blocked`: the site refused us (403, a storm of 429s, a challenge page); the scraper's
 *   circuit breaker for that host is open and it sends nothing until a half-open probe.
 * - `failing`: the run could not complete (NATS stream SCRAPE missing, publish refused,
 *   the site unreachable after retries, robots.txt disallowing the list page).
 *
 * The gateway's `/health` subscribes to these; it may parse them with `ScrapeStatus`.
 */
import { z } from 'zod';

export const SCRAPE_STATES = ['ok', 'degraded', 'blocked', 'failing'] as const;
export const ScrapeState = z.enum(SCRAPE_STATES);
export type ScrapeState = z.infer<typeof ScrapeState>;

/** The longest `detail` a scraper sends; longer text is cut. */
export const SCRAPE_STATUS_DETAIL_MAX = 500;

export const ScrapeStatus = z.object({
  state: ScrapeState,
  at: z.iso.datetime({ offset: true }),
  detail: z.string().max(SCRAPE_STATUS_DETAIL_MAX).optional(),
});
export type ScrapeStatus = z.infer<typeof ScrapeStatus>;

/**
 * A source name is one NATS subject token: lower case letters, digits, `-` and `_`, so it
 * can neither add tokens (`.`) nor wildcards (`*`, `>`) to the subjects built from it.
 */
export const SourceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1 to 64 of a-z, 0-9, - and _ (one NATS subject token), starting with a letter or digit');
export type SourceName = z.infer<typeof SourceName>;

/** Subject names of the scrape side of CONTRACT section 4. */
export const ScrapeSubjects = {
  grants: (source: string) => `scrape.grants.${source}`,
  status: (source: string) => `scrape.status.${source}`,
  rejected: (source: string) => `scrape.rejected.${source}`,
  grantsAll: 'scrape.grants.>',
  statusAll: 'scrape.status.*',
  rejectedAll: 'scrape.rejected.>',
} as const;
