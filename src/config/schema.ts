/**
 * The configuration of every role: one zod schema over the environment (CONTRACT section 1).
 *
 * Each variable is documented with `.describe()`; the README's configuration table is
 * generated from this file (`npm run docs:config`) and a test fails when they differ.
 * Variables listed in `SECRET_KEYS` are never logged. Nothing else in the service reads
 * `process.env`: `loadConfig` parses it once and the result is passed down.
 */
import { z } from 'zod';
import { Duration } from './duration.js';

export const ROLES = ['gateway', 'relay', 'invalidator', 'ingest'] as const;
export type Role = (typeof ROLES)[number];

export const SECRET_KEYS = ['JWT_SECRET', 'JWT_PRIVATE_KEY', 'SENTRY_DSN', 'DATABASE_URL', 'REDIS_URL', 'NATS_URL'] as const;

const commaList = z
  .string()
  .transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

const origin = z.string().refine((value) => {
  if (value === '*') return true;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}, 'must be an exact origin such as https://app.example.org (scheme, host and port only, no path or trailing slash)');

const urlWithScheme = (schemes: readonly string[]) =>
  z.string().refine((value) => {
    try {
      return schemes.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}`);

const optionalText = z.string().min(1).optional();

export const EnvSchema = z.object({
  APP_ENV: z
    .enum(['development', 'test', 'production'])
    .default('development')
    .describe('Deployment environment; `production` forbids wildcard and localhost CORS origins.'),
  ROLES: commaList
    .pipe(z.array(z.enum(ROLES)).min(1, 'must name at least one role'))
    .default(['gateway', 'relay', 'invalidator', 'ingest'])
    .describe('Comma list of roles this process runs: gateway, relay, invalidator, ingest.'),
  DATABASE_URL: urlWithScheme(['postgres:', 'postgresql:'])
    .default('postgres://root@127.0.0.1:5432/navimpact')
    .describe('PostgreSQL connection URL.'),
  DATABASE_POOL_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('Connections in the fixed pool of each process (the relay holds two more of its own).'),
  REDIS_URL: urlWithScheme(['redis:', 'rediss:']).default('redis://127.0.0.1:6379').describe('Redis connection URL.'),
  NATS_URL: z
    .string()
    .min(1)
    .default('nats://127.0.0.1:4222')
    .describe('NATS server URL(s), comma separated; JetStream must be enabled. Credentials go in the URLs: `nats://user:password@host:4222` (or a token, `nats://token@host:4222`).'),
  NATS_STREAM_REPLICAS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(1)
    .describe(
      'Copies JetStream keeps of streams GRANTS, SCRAPE and SCRAPE_REJECTED: 1 on a single nats-server, 3 on a three-node cluster (an existing stream is scaled to it at start-up).',
    ),
  HOST: z.string().min(1).default('127.0.0.1').describe('Address every process listens on (`/health`, `/metrics`, and the gateway\'s routes where it runs).'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080).describe('Port every process listens on (0 picks a free one).'),
  CORS_ORIGINS: commaList.pipe(z.array(origin)).default([]).describe('Comma list of exact browser origins allowed by CORS and the WebSocket `Origin` check.'),
  SENTRY_DSN: urlWithScheme(['http:', 'https:'])
    .optional()
    .describe('Sentry DSN; when set, unhandled errors and rejections are reported with role and release.'),
  RELEASE: z.string().min(1).optional().describe('Release name reported to Sentry and in logs (default: navimpact-live@<package version>).'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level.'),
  JWT_SECRET: z
    .string()
    .refine((s) => Buffer.byteLength(s) >= 32, 'must be at least 32 bytes')
    .optional()
    .describe('HS256 secret for tokens (at least 32 bytes).'),
  JWT_PUBLIC_KEY: z
    .string()
    .refine((s) => s.includes('-----BEGIN PUBLIC KEY-----'), 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)')
    .optional()
    .describe('PEM public key (ES256, EdDSA or RS256) for tokens.'),
  JWT_PRIVATE_KEY: z
    .string()
    .refine((s) => s.includes('-----BEGIN PRIVATE KEY-----'), 'must be a PEM PKCS#8 private key (-----BEGIN PRIVATE KEY-----)')
    .optional()
    .describe('PEM PKCS#8 private key (P-256, Ed25519 or RSA) with which `npm run token` signs (ES256, EdDSA or RS256); unset, it signs with JWT_SECRET. The gateway never reads it.'),
  JWKS_URL: urlWithScheme(['http:', 'https:']).optional().describe('JWKS endpoint for tokens; keys cached and refreshed on an unknown `kid`.'),
  JWT_ISSUER: optionalText.describe('Required `iss` claim, when set.'),
  JWT_AUDIENCE: optionalText.describe('Required `aud` claim, when set.'),
  GRANTS_MAX_AGE: Duration.default(24 * 3_600_000).describe('How long stream GRANTS keeps change events: the resume window.'),
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500).describe('Most change-log rows the relay publishes in one pass.'),
  RELAY_LEADER_POLL: Duration.default(1_000).describe('How often a standby relay tries to take over publishing.'),
  RELAY_SAFETY_POLL: Duration.default(5_000).describe('While idle (waiting for NOTIFY), how often the relay reads the change log anyway.'),
  GATEWAY_HEARTBEAT: Duration.default(25_000).describe('Heartbeat interval of the WebSocket gateway: protocol pings, and the app-level ping clients send; a peer silent for twice this is closed.'),
  GATEWAY_MAX_FRAME: z.coerce.number().int().min(256).max(16_777_216).default(16_384).describe('Largest client frame in bytes; a larger one closes the connection with 1009.'),
  GATEWAY_MAX_BUFFER: z.coerce.number().int().min(16_384).max(1_073_741_824).default(1_048_576).describe('Outbound bytes buffered per connection before the gateway closes it with 4009 (too slow).'),
  GATEWAY_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(20).describe('Client frames per second allowed per connection (bursts up to twice this); beyond, close 4008.'),
  GATEWAY_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).max(10_000).default(100).describe('Topics one connection may subscribe to.'),
  GATEWAY_MAX_CONNECTIONS_PER_SUB: z.coerce.number().int().min(1).max(100_000).default(20).describe('Open connections per token subject (`sub`); beyond, the upgrade is refused with 429.'),
  GATEWAY_ACCEPT_RATE: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(500)
    .describe('Upgrades (WebSocket and SSE) this process admits in any one second; beyond, and while draining, HTTP 503 with Retry-After (a reconnect storm is spread instead of swallowed).'),
  GATEWAY_EXPIRING_NOTICE: Duration.default(60_000).describe('How long before a token expires the gateway sends `expiring` (at most a quarter of the token lifetime).'),
  GATEWAY_REPLAY_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(10_000).describe('Most events replayed for one `subscribe` with `since`; a larger gap answers recovered:false.'),
  WEB_DIR: z.string().min(1).default('dist/web').describe('Directory of the built pages and bundles (`npm run build:web`) the gateway serves at `/`, `/ops` and `/assets/`; relative to the working directory. Missing: those paths answer 503 and say how to build them.'),
  WEB_TOKEN_URL: urlWithScheme(['http:', 'https:'])
    .optional()
    .describe('Endpoint of the host application the pages fetch a token from (with credentials; answers `{"token": JWT}`), again before it expires; unset, the pages take a token from their address (`#token=`).'),
  CACHE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 characters of letters, digits and : _ . -')
    .default('navimpact:')
    .describe('Prefix of every Redis key the cache writes (several deployments or tests can share one Redis).'),
  CACHE_TTL: Duration.default(300_000).describe('Lifetime of a cached grant or list page: the last safety net behind version checks and invalidation.'),
  CACHE_INVALIDATION_BOUND: Duration.default(1_000)
    .describe('Staleness bound of the cache: an entry is served only if the invalidator has applied every change the gateway saw more than this long ago.'),
  CACHE_TOMBSTONE_TTL: Duration.default(60_000)
    .describe('How long an invalidation blocks a late cache fill carrying an older version; a fill whose database read is older than half this is dropped.'),
  CACHE_LOCAL_ENTRIES: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(10_000)
    .describe('Grants the gateway keeps in its in-process layer in front of Redis (kept exact by its feed of GRANTS; at most 16 million characters of JSON); 0 turns it off.'),
  REST_MAX_LIMIT: z.coerce.number().int().min(1).max(10_000).default(500).describe('Largest `limit` accepted by `GET /v1/grants` and `GET /v1/changes`.'),
  SCRAPER_STALE_AFTER: Duration.default(13 * 3_600_000)
    .describe('A scraper whose last `ok` status is older than this shows as degraded in `/health` (default: two scrape intervals of 6 h, plus jitter).'),
  INGEST_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(500).describe('Most scrape records ingest takes from stream SCRAPE and writes in one upsert.'),
  INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2).describe('Batches one ingest process works on at once; each holds one pool connection while it writes (the pool never grows past DATABASE_POOL_SIZE).'),
  INGEST_LINGER: Duration.default(20).describe('How long ingest waits for a batch to fill once its first record arrived.'),
  INGEST_ACK_WAIT: Duration.default(60_000).describe('How long a record taken by ingest stays unacknowledged before JetStream redelivers it (a crashed ingest\'s records come back after this).'),
  INGEST_RETRY_MAX: Duration.default(10_000).describe('Longest pause between retries of a batch after a transient database error (backoff starts at 100ms and doubles, with jitter).'),
  SCRAPE_DUPLICATE_WINDOW: Duration.default(3_600_000).describe('Window in which stream SCRAPE drops a record whose `Nats-Msg-Id` it already holds.'),
  SCRAPE_MAX_BYTES: z.coerce.number().int().min(1_048_576).default(1_073_741_824).describe('Most bytes stream SCRAPE holds before it refuses new records (publishers see the error; nothing un-ingested is dropped).'),
  SCRAPE_REJECTED_MAX_AGE: Duration.default(7 * 86_400_000).describe('How long stream SCRAPE_REJECTED keeps rejected records (`scrape.rejected.>`) for inspection.'),
  SHUTDOWN_DRAIN: Duration.default(10_000).describe(
    'On SIGTERM a gateway refuses new upgrades (503) and closes its clients with 1001 spread evenly over this (at least 100 a second), so they do not all reconnect at once.',
  ),
  SHUTDOWN_TIMEOUT: Duration.default(20_000).describe('Deadline for an orderly shutdown on SIGTERM/SIGINT (the drain included) before the process exits anyway; must exceed SHUTDOWN_DRAIN.'),
  HTTP_REUSE_PORT: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('`true`: several processes listen on the same HOST:PORT and the kernel spreads connections over them (SO_REUSEPORT); `false`: a second process on a port in use fails to start.'),
});

export type Env = z.input<typeof EnvSchema>;

export const ConfigSchema = EnvSchema.superRefine((cfg, ctx) => {
  if (cfg.APP_ENV === 'production') {
    for (const value of cfg.CORS_ORIGINS) {
      const wildcard = value === '*';
      const local = !wildcard && ['localhost', '127.0.0.1', '[::1]'].includes(new URL(value).hostname);
      if (wildcard || local) {
        ctx.addIssue({
          code: 'custom',
          path: ['CORS_ORIGINS'],
          message: `must not contain ${wildcard ? 'a wildcard' : `the local origin ${value}`} when APP_ENV=production`,
        });
      }
    }
  }
  if (cfg.ROLES.includes('gateway') && cfg.SHUTDOWN_TIMEOUT <= cfg.SHUTDOWN_DRAIN) {
    ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_TIMEOUT'], message: 'must be longer than SHUTDOWN_DRAIN, which the gateway spends closing its clients' });
  }
  // Every process serves /metrics to monitor and admin tokens (CONTRACT v1.1 section 1):
  // in production each needs a key to verify them; elsewhere a process without the gateway
  // may start without one (its /metrics is refused, docs/operations.md).
  if (!cfg.JWT_SECRET && !cfg.JWT_PUBLIC_KEY && !cfg.JWKS_URL) {
    if (cfg.ROLES.includes('gateway')) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'the gateway role needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL to verify tokens',
      });
    } else if (cfg.APP_ENV === 'production') {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'every process needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL when APP_ENV=production, to verify the tokens of /metrics',
      });
    }
  }
});

export type Config = z.output<typeof ConfigSchema>;
