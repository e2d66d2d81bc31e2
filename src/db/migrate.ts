/**
 * Migrations: run at start-up and by `npm run migrate`; idempotent and safe when several
 * processes start at once (an advisory lock serialises them). Pending
 * migrations apply together in one transaction: all or none. After them, the lookup tables are brought
 * equal to the domain's enumerations, so those are defined only in domain/.
 */
import pg from 'pg';
import { VIC_OUTCOME_DOMAINS } from '../domain/grant.js';
import { LogCode } from '../domain/codes.js';
import { retry } from '../lifecycle/retry.js';
import type { Logger } from '../observability/log.js';
import { migration as m001 } from './migrations/001_grants.js';
import { migration as m002 } from './migrations/002_previous_values.js';
import { migration as m003 } from './migrations/003_pin_search_path.js';
import { migration as m004 } from './migrations/004_search_index.js';
import { migration as m005 } from './migrations/005_hot_updates.js';
import { migration as m006 } from './migrations/006_previous_changed_only.js';
import { migration as m007 } from './migrations/007_update_logged_by_stamp.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const { escapeLiteral } = pg;

export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007];

/** Advisory lock key (two int4 halves) reserved for migrations. */
const MIGRATION_LOCK: readonly [number, number] = [0x4e494d50, 1];

/**
 * Writers lock `grants` before the capture tables (their triggers read `capture_wakeup` and
 * write `grant_changes`). A migration run that changes a capture table and then `grants`
 * (005 -> 007 in one go: 006 alters `capture_wakeup`, 007 drops a trigger on `grants`)
 * would take them the other way round and deadlock with a writer in flight, which
 * Postgres then aborts. So a run with anything pending locks `grants` first, as writers
 * do; it waits for the writers in flight, and later ones wait for it.
 */
const LOCK_GRANTS_FIRST = `DO $$
BEGIN
  IF to_regclass('grants') IS NOT NULL THEN
    LOCK TABLE grants IN ACCESS EXCLUSIVE MODE;
  END IF;
END $$`;

/**
 * How long an attempt waits for a lock before it gives up. While it waits, every reader
 * and writer of that table queues behind it, so this bounds each stall; a long
 * transaction on `grants` (a backup's `pg_dump`, a report) would otherwise stall the
 * service for as long as it runs, instead of only delaying the start of the new release.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 1_000;
/**
 * Delays between attempts, on top of one lock timeout (full jitter): the table is free at
 * least half the time, more as the delays grow.
 */
export const MIGRATION_RETRY = { baseMs: 1_000, maxMs: 10_000 };
/** The record of applied migrations, made by the first run. */
const CREATE_SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
/** Postgres's lock_not_available: `lock_timeout` expired. */
const LOCK_NOT_AVAILABLE = '55P03';

export interface MigrateOptions {
  /** MIGRATIONS, unless a test stops earlier. */
  migrations?: readonly Migration[];
  lockTimeoutMs?: number;
}

/**
 * Applies the pending migrations, all in one transaction. An attempt that waits longer than
 * `lockTimeoutMs` for a lock is rolled back and tried again until it gets through
 * (MigrationLockWait each time); every other error is thrown. The process holds the
 * migration lock (session-level) across its attempts and their delays, so processes that
 * start together wait on it and not in the tables' lock queues: one process at a time
 * makes attempts, spaced by its delays.
 */
export async function migrate(pool: pg.Pool | pg.Client, log: Logger, options: MigrateOptions = {}): Promise<number[]> {
  const migrations = options.migrations ?? MIGRATIONS;
  const lockTimeoutMs = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  const client = 'connect' in pool && 'totalCount' in pool ? await (pool as pg.Pool).connect() : (pool as pg.Client);
  let broken: Error | undefined;
  try {
    // Waited for without a limit: another process's run ends by itself.
    await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
    try {
      const applied = await retry(() => migrateOnce(client, migrations, lockTimeoutMs), {
        ...MIGRATION_RETRY,
        addMs: lockTimeoutMs,
        retryOn: (err) => (err as { code?: unknown }).code === LOCK_NOT_AVAILABLE,
        onRetry: (err, attempt, retryInMs) =>
          log.warn(
            { code: LogCode.MigrationLockWait, attempt, lockTimeoutMs, retryInMs, err },
            'the migrations waited too long for a lock another transaction holds (a table or a row they change); rolled back, trying again',
          ),
      });
      for (const m of migrations.filter((m) => applied.includes(m.version))) {
        log.info({ code: LogCode.MigrationApplied, version: m.version, name: m.name }, 'migration applied');
      }
      return applied;
    } finally {
      // Fails only with the connection, which then goes with the lock (not back to the pool).
      await client.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]).catch((err: Error) => {
        broken = err;
      });
    }
  } finally {
    if (client !== pool) (client as pg.PoolClient).release(broken);
  }
}

/** One attempt, in one transaction, on a client holding the migration lock. */
async function migrateOnce(client: pg.ClientBase, migrations: readonly Migration[], lockTimeoutMs: number): Promise<number[]> {
  const applied: number[] = [];
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
    await client.query(CREATE_SCHEMA_MIGRATIONS);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const pending = migrations.filter((m) => !done.has(m.version));
    if (pending.length > 0) await client.query(LOCK_GRANTS_FIRST);
    for (const m of pending) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await syncEnumerations(client);
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    // A failed ROLLBACK means the connection is gone; the next statement says so.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The statements bringing the lookup tables equal to the domain's enumerations, given the values as a `text[]` expression. */
const syncStatements = (values: string) => [
  `INSERT INTO vic_outcome_domains (code) SELECT unnest(${values}) ON CONFLICT DO NOTHING`,
  // Fails with a foreign-key error, naming the value, if a removed value is still in use.
  `DELETE FROM vic_outcome_domains WHERE code <> ALL(${values})`,
];

async function syncEnumerations(client: pg.ClientBase): Promise<void> {
  for (const statement of syncStatements('$1::text[]')) await client.query(statement, [[...VIC_OUTCOME_DOMAINS]]);
}

/**
 * The SQL that brings a database at schema `fromVersion` to this release, for a
 * transaction the caller already holds with the database to itself (a restore's replay,
 * cli/restore.ts, which runs it in the replay's own transaction so that no reader sees the
 * restored data at the older schema): the pending migrations, each recorded in
 * `schema_migrations`, then the lookup tables synced, as `migrate` does. It first resets
 * the session's settings, which pg_restore's SQL changes (an empty search path, function
 * bodies unchecked, no lock timeout, warnings only), so the migrations run as `migrate`'s
 * do, and waits at most `lockTimeoutMs` for a lock.
 */
export function migrationScript(fromVersion: number, lockTimeoutMs: number): string {
  const pending = MIGRATIONS.filter((m) => m.version > fromVersion);
  const values = `ARRAY[${VIC_OUTCOME_DOMAINS.map((v) => escapeLiteral(v)).join(', ')}]::text[]`;
  return [
    'RESET ALL',
    `SET LOCAL lock_timeout = '${Math.trunc(lockTimeoutMs)}ms'`,
    CREATE_SCHEMA_MIGRATIONS,
    ...pending.flatMap((m) => [m.sql, `INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${escapeLiteral(m.name)})`]),
    ...syncStatements(values),
  ]
    .map((statement) => `${statement.trim()};\n`)
    .join('');
}
