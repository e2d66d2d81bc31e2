/**
 * Migrations: run at start-up and by `npm run migrate`; idempotent and safe when several
 * processes start at once (a transaction-scoped advisory lock serialises them). Pending
 * migrations apply together in one transaction: all or none. After them, the lookup tables are brought
 * equal to the domain's enumerations, so those are defined only in domain/.
 */
import type pg from 'pg';
import { VIC_OUTCOME_DOMAINS } from '../domain/grant.js';
import { LogCode } from '../domain/codes.js';
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

/** Applies the pending ones of `migrations` (MIGRATIONS, unless a test stops earlier). */
export async function migrate(pool: pg.Pool | pg.Client, log: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = 'connect' in pool && 'totalCount' in pool ? await (pool as pg.Pool).connect() : (pool as pg.Client);
  const applied: number[] = [];
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const pending = migrations.filter((m) => !done.has(m.version));
    if (pending.length > 0) await client.query(LOCK_GRANTS_FIRST);
    for (const m of pending) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
      log.info({ code: LogCode.MigrationApplied, version: m.version, name: m.name }, 'migration applied');
    }
    await syncEnumerations(client);
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    // A connection whose ROLLBACK failed is not returned to the pool.
    if (client !== pool) (client as pg.PoolClient).release(broken);
  }
}

async function syncEnumerations(client: pg.ClientBase): Promise<void> {
  const values = [...VIC_OUTCOME_DOMAINS];
  await client.query('INSERT INTO vic_outcome_domains (code) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [values]);
  // Fails with a foreign-key error, naming the value, if a removed value is still in use.
  await client.query('DELETE FROM vic_outcome_domains WHERE code <> ALL($1::text[])', [values]);
}
