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

export async function migrate(pool: pg.Pool | pg.Client, log: Logger): Promise<number[]> {
  const client = 'connect' in pool && 'totalCount' in pool ? await (pool as pg.Pool).connect() : (pool as pg.Client);
  const applied: number[] = [];
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
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
