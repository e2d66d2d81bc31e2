/**
 * Entry point: `npm start` runs the roles named by ROLES in this process; `npm run migrate`
 * applies the migrations and exits. With src/roles/, this is the one place that knows every
 * role: roles meet only through Postgres and NATS, so any subset runs as its own process.
 * Whatever its roles, a process listens on HOST:PORT for `/health` and `/metrics`
 * (roles/process.ts), once every role started.
 *
 * Exit codes (domain/codes.ts `ExitCode`): 0 after an orderly shutdown, 78 for bad
 * configuration, 69 when Postgres or NATS cannot be reached at start-up, 70 after an
 * unhandled error, 1 past the shutdown deadline. A start-up failure prints exactly one line
 * to stderr.
 */
import type { NatsConnection } from 'nats';
import { connectNats, NatsUnreachableError } from './bus/nats.js';
import { fail as failCli, registerSecrets } from './cli/run.js';
import { loadConfig, redactConfig, ConfigError } from './config/load.js';
import { processRedactor } from './config/redact.js';
import { ConfigSchema, EnvSchema, type Config, type Role } from './config/schema.js';
import { ensureDatabase, DatabaseUnreachableError } from './db/database.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { RolePools } from './db/pools.js';
import { ExitCode, LogCode } from './domain/codes.js';
import { Shutdown } from './lifecycle/shutdown.js';
import { createLogger } from './observability/log.js';
import { createMetrics } from './observability/metrics.js';
import { defaultRelease } from './observability/release.js';
import { flushReporting, initReporting, installCrashHandlers } from './observability/sentry.js';
import type { RoleContext, RunningRole } from './roles/context.js';
import { createProcessServer } from './roles/process.js';
import { startGateway } from './roles/gateway.js';
import { startIngest } from './roles/ingest.js';
import { startInvalidator } from './roles/invalidator.js';
import { startRelay } from './roles/relay.js';

const fail: (code: ExitCode, message: string) => never = (code, message) => failCli('navimpact', code, message);

/** Waits for in-flight Sentry events at shutdown at most this long. */
const REPORTING_FLUSH_MS = 2_000;

const roles: Record<Role, (ctx: RoleContext) => Promise<RunningRole> | RunningRole> = {
  relay: startRelay,
  gateway: startGateway,
  invalidator: startInvalidator,
  ingest: startIngest,
};

async function main(command: string): Promise<void> {
  // Before anything can fail: no credential of the environment reaches stderr or a log line.
  registerSecrets();
  let config: Config;
  try {
    config = loadConfig(undefined, command === 'migrate' ? EnvSchema : ConfigSchema);
  } catch (err) {
    if (err instanceof ConfigError) fail(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  // Values read from `VAR_FILE`s are known only now.
  registerSecrets(config);
  const release = config.RELEASE ?? defaultRelease();
  // A person reading a terminal in development gets pino-pretty's lines; files, pipes and production get JSON.
  const log = createLogger({ level: config.LOG_LEVEL, release, scrub: processRedactor.scrub, pretty: config.APP_ENV === 'development' && process.stdout.isTTY === true });

  try {
    await ensureDatabase(config.DATABASE_URL, log);
  } catch (err) {
    if (err instanceof DatabaseUnreachableError) fail(ExitCode.Unavailable, err.message);
    throw err;
  }

  if (command === 'migrate') {
    const pool = createPool({ url: config.DATABASE_URL, size: 1, applicationName: 'navimpact-migrate' }, log);
    try {
      const applied = await migrate(pool, log);
      log.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
    } catch (err) {
      fail(ExitCode.Software, `migration failed: ${(err as Error).message}`);
    } finally {
      await pool.end();
    }
    return;
  }
  if (command !== 'start') fail(ExitCode.Usage, `unknown command "${command}" (expected start or migrate)`);

  initReporting({ dsn: config.SENTRY_DSN, release, environment: config.APP_ENV, roles: config.ROLES, intervalMs: config.SENTRY_REPORT_INTERVAL });
  const shutdown = new Shutdown(log, config.SHUTDOWN_TIMEOUT);
  installCrashHandlers(log, (code) => void shutdown.run(code, 'fatal error'));
  shutdown.listen();
  shutdown.add('error reporting', () => flushReporting(REPORTING_FLUSH_MS));

  // Migrations on a connection of their own, without the statement timeout of the service's
  // pools (building an index may take longer, and so may waiting for another process's).
  const migrator = createPool({ url: config.DATABASE_URL, size: 1, applicationName: 'navimpact-migrate' }, log);
  try {
    await migrate(migrator, log);
  } catch (err) {
    log.fatal({ code: LogCode.MigrationFailed, err }, 'migration failed');
    fail(ExitCode.Software, `migration failed: ${(err as Error).message}`);
  } finally {
    await migrator.end();
  }
  const metrics = createMetrics(config.ROLES);
  // A pool per role (db/pools.ts): REST can never take ingest's connections, nor the reverse.
  const pools = new RolePools(
    {
      url: config.DATABASE_URL,
      sizes: { gateway: config.GATEWAY_POOL_SIZE ?? config.DATABASE_POOL_SIZE, ingest: config.INGEST_POOL_SIZE ?? config.DATABASE_POOL_SIZE },
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
      // Each pool's connections are named after the role using them: navimpact-gateway, navimpact-ingest, navimpact-monitor.
      applicationName: 'navimpact',
    },
    log,
    (pool) => metrics.watchPool(pool),
  );
  shutdown.add('database pools', () => pools.end());

  let nc: NatsConnection;
  try {
    nc = await connectNats(config.NATS_URL, `navimpact-${config.ROLES.join('-')}-${process.pid}`, log);
  } catch (err) {
    if (err instanceof NatsUnreachableError) fail(ExitCode.Unavailable, `NATS_URL: ${err.message}`);
    throw err;
  }
  shutdown.add('nats', () => nc.drain());

  metrics.buildInfo.set({ release, roles: config.ROLES.join(',') }, 1);
  const server = await createProcessServer({ config, log, nc, pools, metrics });
  // Registered before the roles, so it runs after them: /health answers while they stop
  // (the gateway role stops accepting connections itself, first).
  shutdown.add('http server', () => server.close());
  const ctx: RoleContext = server.context;
  const started: [Role, RunningRole][] = [];
  for (const role of config.ROLES) {
    try {
      started.push([role, await roles[role](ctx)]);
    } catch (err) {
      log.fatal({ code: LogCode.StartupFailed, role, err }, 'role failed to start');
      fail(ExitCode.Software, `${role} failed to start: ${(err as Error).message}`);
    }
    log.info({ code: LogCode.RoleStarted, role }, 'role started');
  }
  // Steps run last-registered first: roles stop before the connections they used, and the
  // gateway first of all, so that its clients are drained while events still flow.
  for (const [role, running] of [...started.filter(([r]) => r !== 'gateway'), ...started.filter(([r]) => r === 'gateway')]) shutdown.add(role, () => running.stop());
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    log.fatal({ code: LogCode.StartupFailed, err }, 'cannot listen');
    fail(ExitCode.Software, `cannot listen on ${config.HOST}:${config.PORT}: ${(err as Error).message}`);
  }
  for (const [, running] of started) running.listening?.(port);
  log.info({ config: redactConfig(config) }, 'started');
}

main(process.argv[2] ?? 'start').catch((err: unknown) => {
  fail(ExitCode.Software, `start-up failed: ${(err as Error)?.message ?? String(err)}`);
});
