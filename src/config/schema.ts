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

/** A DSN as @sentry/core parses it (its DSN_REGEX), with a numeric project id. */
const SENTRY_DSN = /^https?:\/\/\w+(?::\w*)?@(?:\[[:.%\w]+\]|[\w.-]+)(?::\d+)?\/(?:.*\/)?\d+$/;

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
    .describe(
      "Connections of each role's own fixed pool in a process (gateway: REST reads; ingest: upserts), unless GATEWAY_POOL_SIZE or INGEST_POOL_SIZE names another size. Roles never share a pool; the relay holds two connections of its own, and every process two more for /health and gauges.",
    ),
  GATEWAY_POOL_SIZE: z.coerce.number().int().min(1).max(100).optional().describe("Connections of the gateway's pool (REST reads); default DATABASE_POOL_SIZE."),
  INGEST_POOL_SIZE: z.coerce.number().int().min(1).max(100).optional().describe("Connections of ingest's pool (upserts; a worker holds one while it writes); default DATABASE_POOL_SIZE."),
  DATABASE_STATEMENT_TIMEOUT: Duration.default(5_000).describe(
    'Longest a statement of the service pools may run (Postgres `statement_timeout`, set on every pooled connection; migrations are not bound by it): a REST read past it answers 503 `query_timeout`, an ingest batch past it is retried. `0ms` turns it off.',
  ),
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
    // Sentry's own grammar: the SDK prints a DSN it cannot parse, key included, to the console.
    .refine((value) => SENTRY_DSN.test(value), 'must be a Sentry DSN: https://<key>@<host>/<project id>')
    .optional()
    .describe('Sentry DSN; when set, unhandled errors and rejections, REST 500s, feed failures and server loops still failing after 5 tries are reported with role, release and log code.'),
  SENTRY_REPORT_INTERVAL: Duration.default(60_000).describe(
    'The same error (log code and message) is sent to Sentry at most once per this; the next report counts the ones held back.',
  ),
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
  JWKS_URL: urlWithScheme(['http:', 'https:'])
    .optional()
    .describe('JWKS endpoint for tokens; keys cached and refreshed on an unknown `kid`. Needs JWT_ISSUER and JWT_AUDIENCE (an identity provider signs tokens for other applications too); `https:` when APP_ENV=production.'),
  JWT_ISSUER: optionalText.describe('Required `iss` claim, when set; required with JWKS_URL.'),
  JWT_AUDIENCE: optionalText.describe('Required `aud` claim, when set; required with JWKS_URL.'),
  JWT_MAX_TTL: Duration.refine((ms) => ms >= 1_000, 'must be at least 1s')
    .default(24 * 3_600_000)
    .describe('Longest token lifetime accepted: a token whose `exp - iat` (or `exp - now`) is longer is refused (`lifetime`), so a leaked long-lived token is not honoured.'),
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
  GATEWAY_REPLAY_WINDOW: z.coerce
    .number()
    .int()
    .min(0)
    .max(100_000)
    .default(0)
    .describe('Recent events each gateway keeps in memory (also at most 8 MB of them) so that a client resuming within them is replayed without reading stream GRANTS (bench:storm runs 2000); 0, the default until it answers recovered:false for a purged or replaced stream as the stream does: every resume reads the stream.'),
  WEB_DIR: z.string().min(1).default('dist/web').describe('Directory of the built pages and bundles (`npm run build:web`) the gateway serves at `/`, `/ops` and `/assets/`; relative to the working directory. Missing: those paths answer 503 and say how to build them.'),
  TOKEN_URL: urlWithScheme(['http:', 'https:'])
    .optional()
    .describe('Endpoint of the host application the pages fetch a token from (with credentials; answers `{"token": JWT}`), again before it expires; unset, the pages take a token from their address (`#token=`).'),
  CACHE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 characters of letters, digits and : _ . -')
    .default('navimpact:')
    .describe('Prefix of every Redis key the cache writes (several deployments or tests can share one Redis).'),
  CACHE_TTL: Duration.default(300_000).describe('Lifetime of a cached grant or list page: the last safety net behind version checks and invalidation.'),
  CACHE_LIST_MAX_PAGES: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(10_000)
    .describe('List pages (`GET /v1/grants`, one per distinct query and cursor) the Redis cache keeps at most; beyond, the oldest fills are deleted.'),
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
  REST_RATE_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(20)
    .describe(
      'REST requests per second allowed per token subject (`sub`), or per client address for requests without a valid token, in bursts of up to twice this; beyond, 429 `rate_limited` with Retry-After. `/health` and `/metrics` are exempt.',
    ),
  REST_MAX_LIMIT: z.coerce.number().int().min(1).max(10_000).default(500).describe('Largest `limit` accepted by `GET /v1/grants` and `GET /v1/changes`.'),
  SCRAPER_STALE_AFTER: Duration.default(13 * 3_600_000)
    .describe('A scraper whose last `ok` status is older than this shows as degraded in `/health` (default: two scrape intervals of 6 h, plus jitter).'),
  SCRAPER_FORGET_AFTER: Duration.default(7 * 86_400_000).describe(
    'A source that sent no status for this long is forgotten: dropped from `/health` (no longer degrading it) and its `navimpact_scraper_*` series removed (a retired source). Must exceed SCRAPER_STALE_AFTER.',
  ),
  INGEST_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(500).describe('Most scrape records ingest takes from stream SCRAPE and writes in one upsert.'),
  INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2).describe('Batches one ingest process works on at once; each holds one connection of the ingest pool while it writes (the pool never grows past INGEST_POOL_SIZE).'),
  INGEST_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(65_536)
    .max(1_073_741_824)
    .default(16_777_216)
    .describe(
      'Most bytes of scrape records one ingest worker asks JetStream for in one pull, and holds in one batch (a batch closes at INGEST_BATCH_SIZE records or this, whichever comes first). Must exceed SCRAPE_MAX_RECORD_BYTES by 4 KiB.',
    ),
  INGEST_LINGER: Duration.default(20).describe('How long ingest waits for a batch to fill once its first record arrived.'),
  INGEST_ACK_WAIT: Duration.default(60_000).describe('How long a record taken by ingest stays unacknowledged before JetStream redelivers it (a crashed ingest\'s records come back after this).'),
  INGEST_RETRY_MAX: Duration.default(10_000).describe('Longest pause between retries of a batch after a transient database error (backoff starts at 100ms and doubles, with jitter).'),
  SCRAPE_DUPLICATE_WINDOW: Duration.default(3_600_000).describe('Window in which stream SCRAPE drops a record whose `Nats-Msg-Id` it already holds.'),
  SCRAPE_MAX_BYTES: z.coerce.number().int().min(1_048_576).default(1_073_741_824).describe('Most bytes stream SCRAPE holds before it refuses new records (publishers see the error; nothing un-ingested is dropped).'),
  SCRAPE_MAX_RECORD_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .max(67_108_864)
    .default(1_048_576)
    .describe('Largest scrape record (payload and headers) stream SCRAPE accepts; a larger one is refused to its publisher.'),
  SCRAPE_MAX_PER_SOURCE: z.coerce
    .number()
    .int()
    .min(1)
    .default(100_000)
    .describe(
      'Most records stream SCRAPE holds for one source (`scrape.grants.<source>`); beyond, that source\'s new records are refused while every other source is still accepted.',
    ),
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

/** What a pull's byte count adds to a record's own size (subject, reply subject), at most. */
const PULL_HEADROOM_BYTES = 4_096;

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
      } else if (new URL(value).protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', path: ['CORS_ORIGINS'], message: `must list only https: origins when APP_ENV=production (got ${value})` });
      }
    }
  }
  // Token policy (CONTRACT v1.1 section 2): keys fetched in clear could be swapped on the
  // way; a shared identity provider's tokens are ours only if issuer and audience say so.
  if (cfg.JWKS_URL !== undefined) {
    if (cfg.APP_ENV === 'production' && new URL(cfg.JWKS_URL).protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', path: ['JWKS_URL'], message: 'must be an https: URL when APP_ENV=production (keys fetched over http: could be replaced on the way)' });
    }
    for (const key of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (cfg[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be set when JWKS_URL is (a shared identity provider signs tokens for other applications too)' });
      }
    }
  }
  if (cfg.ROLES.includes('gateway') && cfg.SHUTDOWN_TIMEOUT <= cfg.SHUTDOWN_DRAIN) {
    ctx.addIssue({ code: 'custom', path: ['SHUTDOWN_TIMEOUT'], message: 'must be longer than SHUTDOWN_DRAIN, which the gateway spends closing its clients' });
  }
  if (cfg.SCRAPER_FORGET_AFTER <= cfg.SCRAPER_STALE_AFTER) {
    ctx.addIssue({ code: 'custom', path: ['SCRAPER_FORGET_AFTER'], message: 'must be longer than SCRAPER_STALE_AFTER: a source is degraded before it is forgotten' });
  }
  if (cfg.INGEST_MAX_BYTES < cfg.SCRAPE_MAX_RECORD_BYTES + PULL_HEADROOM_BYTES) {
    ctx.addIssue({
      code: 'custom',
      path: ['INGEST_MAX_BYTES'],
      message: `must be at least SCRAPE_MAX_RECORD_BYTES + ${PULL_HEADROOM_BYTES} (${cfg.SCRAPE_MAX_RECORD_BYTES + PULL_HEADROOM_BYTES}): a pull smaller than the largest record would never deliver it`,
    });
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
