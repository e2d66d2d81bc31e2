/**
 * The configuration of a scraper process: its own zod schema over the environment, apart
 * from the service's (`src/config/schema.ts`), because a scraper runs with other
 * credentials and needs none of the service's secrets. Parsed once by the CLI and passed
 * down; nothing else under `src/scrape` reads `process.env`.
 *
 * Names shared with the service (`NATS_URL`, `LOG_LEVEL`) mean the same thing; every other
 * name here is one the service's schema does not use (the service has `SCRAPE_MAX_BYTES`
 * for stream SCRAPE, so the body bound here is `SCRAPE_MAX_RESPONSE_BYTES`), so one
 * environment file can serve both without a variable meaning two things.
 */
import { z } from 'zod';
import { Duration } from '../config/duration.js';
import { ConfigError, parseEnv } from '../config/env.js';

/** Variables never echoed in an error or a log line. */
export const SCRAPE_SECRET_KEYS = ['NATS_PASSWORD', 'NATS_TOKEN', 'NATS_URL'] as const;

const optionalText = z.string().min(1).optional();

const contact = z
  .string()
  .trim()
  .refine((value) => {
    if (/^[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+$/.test(value)) return true;
    try {
      const url = new URL(value);
      return url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an e-mail address or an http(s) URL where site operators can reach whoever runs this scraper');

export const ScrapeEnvSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222').describe('NATS server URL(s), comma separated.'),
  NATS_USER: optionalText.describe('NATS user of this scraper (deploy/nats.conf gives each source its own).'),
  NATS_PASSWORD: optionalText.describe('Password of NATS_USER.'),
  NATS_TOKEN: optionalText.describe('NATS token, instead of a user and password.'),
  NATS_CREDS: optionalText.describe('Path of a NATS credentials file (JWT + nkey seed), instead of a user and password.'),
  SCRAPER_CONTACT: contact.describe(
    'Contact address in the User-Agent (`NavImpactLiveBot/<version> (+<contact>)`), so a site operator can reach us instead of blocking us. Required.',
  ),
  SCRAPE_SOURCES_FILE: optionalText.describe(
    'JSON file of source definitions: generic sources, and overrides (base URL, paging) of the built-in ones. See docs/scrapers.md.',
  ),
  SCRAPE_MIN_DELAY: Duration.default(5_000).describe('Least time between two requests to one host (a robots.txt Crawl-delay may raise it).'),
  SCRAPE_JITTER: Duration.default(2_000).describe('Random extra delay, 0 up to this, added to SCRAPE_MIN_DELAY before each request to a host.'),
  SCRAPE_TIMEOUT: Duration.default(30_000).describe('Deadline of one HTTP request, headers and body.'),
  SCRAPE_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .default(5 * 1024 * 1024)
    .describe('Largest response body read (after decompression); a larger one fails that page.'),
  SCRAPE_RETRIES: z.coerce.number().int().min(0).max(10).default(4).describe('Retries of one request after a network error, 5xx or 429.'),
  SCRAPE_BACKOFF_BASE: Duration.default(1_000).describe('First retry backoff; doubles on each retry, with full jitter.'),
  SCRAPE_BACKOFF_MAX: Duration.default(60_000).describe('Largest retry backoff.'),
  SCRAPE_MAX_RETRY_AFTER: Duration.default(600_000).describe(
    'Longest Retry-After the scraper waits inside a run; a longer one opens the breaker for that long instead.',
  ),
  SCRAPE_BREAKER_COOLDOWN: Duration.default(1_800_000).describe(
    'How long a host stays blocked after a 403, a challenge page or a 429 storm before one probe request; doubles after a failed probe.',
  ),
  SCRAPE_BREAKER_MAX_COOLDOWN: Duration.default(86_400_000).describe('Largest breaker cooldown.'),
  SCRAPE_INTERVAL: Duration.default(21_600_000).describe('Time between scheduled runs of a source (without --once).'),
  SCRAPE_INTERVAL_JITTER: Duration.default(900_000).describe('Random extra time, 0 up to this, added to each SCRAPE_INTERVAL.'),
  SCRAPE_HEARTBEAT: Duration.default(60_000).describe('How often the last status is published again on scrape.status.<source>.'),
  SCRAPE_MAX_PAGES: z.coerce.number().int().min(1).max(1_000).default(50).describe('Most list pages one run follows.'),
  SCRAPE_PUBLISH_TIMEOUT: Duration.default(10_000).describe('Deadline of one JetStream publish acknowledgement.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
});
export type ScrapeConfig = z.infer<typeof ScrapeEnvSchema>;

const KNOWN = new Set(Object.keys(ScrapeEnvSchema.shape));
const NEVER_ECHO = new Set<string>(SCRAPE_SECRET_KEYS);

/** Parses the environment once; empty strings count as unset. Throws a ConfigError naming the variable. */
export function loadScrapeConfig(env: NodeJS.ProcessEnv = process.env): ScrapeConfig {
  const config = parseEnv(ScrapeEnvSchema, KNOWN, env, NEVER_ECHO);
  if ((config.NATS_USER === undefined) !== (config.NATS_PASSWORD === undefined)) {
    throw new ConfigError(config.NATS_USER === undefined ? 'NATS_USER' : 'NATS_PASSWORD', 'must be set together with the other (NATS_USER and NATS_PASSWORD)');
  }
  const ways = [config.NATS_USER, config.NATS_TOKEN, config.NATS_CREDS].filter((v) => v !== undefined).length;
  if (ways > 1) throw new ConfigError('NATS_CREDS', 'set one of NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS, not several');
  return config;
}
