/**
 * Entry point: `npm start` runs the roles named by ROLES in this process; `npm run migrate`
 * applies the migrations and exits. This is the one place that knows every role: roles
 * meet only through Postgres and NATS, so any subset runs as its own process.
 *
 * Exit codes: 0 after an orderly shutdown, 78 for bad configuration, 69 when Postgres or
 * NATS cannot be reached at start-up, 70 after an unhandled error, 1 past the shutdown
 * deadline. A start-up failure prints exactly one line to stderr.
 */
import { loadConfig, redactConfig, ConfigError } from './config/load.js';
import { ConfigSchema, EnvSchema, type Config, type Role } from './config/schema.js';
import { LogCode } from './domain/codes.js';
import { createLogger, type Logger } from './observability/log.js';
import { defaultRelease } from './observability/release.js';
import { flushReporting, initReporting, installCrashHandlers } from './observability/sentry.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { ensureDatabase, DatabaseUnreachableError } from './db/database.js';
import { createPool } from './db/pool.js';
import { migrate } from './db/migrate.js';
import { connectNats, NatsUnreachableError } from './bus/nats.js';
import { Relay } from './capture/relay.js';
import { Gateway } from './gateway/server.js';
import { createTokenVerifier } from './gateway/auth.js';
import { Shutdown } from './lifecycle/shutdown.js';
import { Ingest } from './ingest/ingest.js';
import { GrantCache } from './cache/store.js';
import { Invalidator } from './cache/invalidator.js';
import { Rest } from './rest/index.js';
import type { NatsConnection } from 'nats';
import type pg from 'pg';

const EXIT = { config: 78, unavailable: 69, software: 70 } as const;

function fail(code: number, message: string): never {
  process.stderr.write(`navimpact: ${message}\n`);
  process.exit(code);
}

interface RoleContext {
  config: Config;
  log: Logger;
  nc: NatsConnection;
  pool: pg.Pool;
  metrics: Metrics;
  shutdown: Shutdown;
}

const roles: Record<Role, ((ctx: RoleContext) => Promise<void> | void) | undefined> = {
  relay: ({ config, log, nc, metrics, shutdown }) => {
    const relay = new Relay(
      {
        databaseUrl: config.DATABASE_URL,
        batchSize: config.RELAY_BATCH_SIZE,
        leaderPollMs: config.RELAY_LEADER_POLL,
        safetyPollMs: config.RELAY_SAFETY_POLL,
        maxAgeMs: config.GRANTS_MAX_AGE,
      },
      nc,
      log.child({ role: 'relay' }),
      metrics,
    );
    relay.start();
    shutdown.add('relay', () => relay.stop());
  },
  gateway: async ({ config, log, nc, pool, metrics, shutdown }) => {
    const verifier = await createTokenVerifier({
      secret: config.JWT_SECRET,
      publicKey: config.JWT_PUBLIC_KEY,
      jwksUrl: config.JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
    });
    const gatewayLog = log.child({ role: 'gateway' });
    const cache = new GrantCache(config.REDIS_URL, { prefix: config.CACHE_PREFIX, ttlMs: config.CACHE_TTL, tombstoneTtlMs: config.CACHE_TOMBSTONE_TTL }, gatewayLog, metrics);
    const rest = new Rest(
      {
        corsOrigins: config.CORS_ORIGINS,
        maxLimit: config.REST_MAX_LIMIT,
        invalidationBoundMs: config.CACHE_INVALIDATION_BOUND,
        scraperStaleAfterMs: config.SCRAPER_STALE_AFTER,
        localEntries: config.CACHE_LOCAL_ENTRIES,
        cacheTtlMs: config.CACHE_TTL,
        tombstoneTtlMs: config.CACHE_TOMBSTONE_TTL,
      },
      { pool, nc, cache, verifier, log: gatewayLog, metrics },
    );
    const gateway = new Gateway(config, verifier, nc, gatewayLog, metrics, rest);
    shutdown.add('gateway', () => gateway.stop());
    await gateway.start();
  },
  invalidator: async ({ config, log, nc, metrics, shutdown }) => {
    const invalidator = new Invalidator(
      nc,
      { redisUrl: config.REDIS_URL, prefix: config.CACHE_PREFIX, tombstoneTtlMs: config.CACHE_TOMBSTONE_TTL, maxAgeMs: config.GRANTS_MAX_AGE },
      log.child({ role: 'invalidator' }),
      metrics,
    );
    shutdown.add('invalidator', () => invalidator.stop());
    await invalidator.start();
  },
  ingest: async ({ config, log, nc, pool, metrics, shutdown }) => {
    const ingest = new Ingest(
      {
        batchSize: config.INGEST_BATCH_SIZE,
        concurrency: config.INGEST_CONCURRENCY,
        lingerMs: config.INGEST_LINGER,
        ackWaitMs: config.INGEST_ACK_WAIT,
        retryMaxMs: config.INGEST_RETRY_MAX,
        duplicateWindowMs: config.SCRAPE_DUPLICATE_WINDOW,
        maxBytes: config.SCRAPE_MAX_BYTES,
        rejectedMaxAgeMs: config.SCRAPE_REJECTED_MAX_AGE,
      },
      nc,
      pool,
      log.child({ role: 'ingest' }),
      metrics,
    );
    shutdown.add('ingest', () => ingest.stop());
    await ingest.start();
  },
};

async function main(command: string): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(undefined, command === 'migrate' ? EnvSchema : ConfigSchema);
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT.config, `configuration: ${err.message}`);
    throw err;
  }
  const release = config.RELEASE ?? defaultRelease();
  const log = createLogger({ level: config.LOG_LEVEL, release });

  try {
    await ensureDatabase(config.DATABASE_URL, log);
  } catch (err) {
    if (err instanceof DatabaseUnreachableError) fail(EXIT.unavailable, err.message);
    throw err;
  }

  if (command === 'migrate') {
    const pool = createPool({ url: config.DATABASE_URL, size: 1, applicationName: 'navimpact-migrate' }, log);
    try {
      const applied = await migrate(pool, log);
      log.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
    } catch (err) {
      fail(EXIT.software, `migration failed: ${(err as Error).message}`);
    } finally {
      await pool.end();
    }
    return;
  }
  if (command !== 'start') fail(64, `unknown command "${command}" (expected start or migrate)`);

  initReporting({ dsn: config.SENTRY_DSN, release, environment: config.APP_ENV, roles: config.ROLES });
  const shutdown = new Shutdown(log, config.SHUTDOWN_TIMEOUT);
  installCrashHandlers(log, (code) => void shutdown.run(code, 'fatal error'));
  shutdown.listen();
  shutdown.add('error reporting', () => flushReporting(2_000));

  const pool = createPool({ url: config.DATABASE_URL, size: config.DATABASE_POOL_SIZE, applicationName: `navimpact-${config.ROLES.join('-')}` }, log);
  shutdown.add('database pool', () => pool.end());
  try {
    await migrate(pool, log);
  } catch (err) {
    log.fatal({ code: LogCode.MigrationFailed, err }, 'migration failed');
    fail(EXIT.software, `migration failed: ${(err as Error).message}`);
  }

  let nc: NatsConnection;
  try {
    nc = await connectNats(config.NATS_URL, `navimpact-${config.ROLES.join('-')}-${process.pid}`, log);
  } catch (err) {
    if (err instanceof NatsUnreachableError) fail(EXIT.unavailable, `NATS_URL: ${err.message}`);
    throw err;
  }
  shutdown.add('nats', () => nc.drain());

  const metrics = createMetrics();
  metrics.watchPool(pool);
  const ctx: RoleContext = { config, log, nc, pool, metrics, shutdown };
  for (const role of config.ROLES) {
    const start = roles[role];
    if (!start) {
      log.warn({ code: LogCode.RoleNotImplemented, role }, 'role not implemented in this release; skipped');
      continue;
    }
    try {
      await start(ctx);
    } catch (err) {
      log.fatal({ code: LogCode.StartupFailed, role, err }, 'role failed to start');
      fail(EXIT.software, `${role} failed to start: ${(err as Error).message}`);
    }
    log.info({ code: LogCode.RoleStarted, role }, 'role started');
  }
  log.info({ config: redactConfig(config) }, 'started');
}

main(process.argv[2] ?? 'start').catch((err: unknown) => {
  fail(EXIT.software, `start-up failed: ${(err as Error)?.message ?? String(err)}`);
});
