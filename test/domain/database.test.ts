/**
 * The `grants` table and its change log on a real Postgres (CONTRACT section 3): the
 * migrations, the constraints that mirror the domain enumerations, the version the
 * database owns, and exactly one log row per committed change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { MIGRATIONS, migrate } from '../../src/db/migrate.js';
import { createClient, createPool } from '../../src/db/pool.js';
import { GRANT_STATUSES, GrantFromRow, LOCATIONS, VIC_OUTCOME_DOMAINS } from '../../src/domain/grant.js';
import { testLog } from '../support/log.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const databases: TestDatabase[] = [];
const pools: pg.Pool[] = [];

async function freshDatabase(): Promise<{ db: TestDatabase; pool: pg.Pool }> {
  const db = await createTestDatabase();
  databases.push(db);
  const pool = createPool({ url: db.url, size: 4, applicationName: 'navimpact-test-database' }, testLog);
  pools.push(pool);
  return { db, pool };
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all(databases.map((d) => d.drop()));
});

/** The SQLSTATE and constraint of the error `promise` rejects with. */
async function pgError(promise: Promise<unknown>): Promise<{ code: string | undefined; constraint: string | undefined; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { code?: string; constraint?: string; message: string };
    return { code: e.code, constraint: e.constraint, message: e.message };
  }
  throw new Error('the statement was accepted');
}

let counter = 0;

/** Inserts a grant with a unique external id; returns id and version. */
async function insertGrant(q: pg.Pool | pg.ClientBase, fields: Record<string, unknown> = {}): Promise<{ id: string; version: string }> {
  const row: Record<string, unknown> = { source: 'test', external_id: `ext-${process.pid}-${++counter}`, title: 'A grant', ...fields };
  const keys = Object.keys(row);
  const { rows } = await q.query<{ id: string; version: string }>(
    `INSERT INTO grants (${keys.join(', ')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id, version`,
    Object.values(row),
  );
  return rows[0]!;
}

async function stamps(q: pg.Pool, id: string): Promise<{ version: string; updated_at: string; created_at: string }> {
  const { rows } = await q.query<{ version: string; updated_at: string; created_at: string }>(
    'SELECT version, updated_at::text AS updated_at, created_at::text AS created_at FROM grants WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

describe('database - migrations', () => {
  it('database - the migrations, in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(MIGRATIONS.map((m) => m.name)).toContain('trigram indexes for q');
  });

  it('database - migrate is idempotent: the second run applies nothing', async () => {
    const { pool } = await freshDatabase();
    expect(await migrate(pool, testLog)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(pool, testLog)).toEqual([]);
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    // Still one relay_state row, not two.
    expect((await pool.query('SELECT * FROM relay_state')).rowCount).toBe(1);
  });

  it('database - two concurrent migrations of a fresh database both succeed', async () => {
    const { db, pool } = await freshDatabase();
    const other = createClient(db.url, 'navimpact-test-migrate-2');
    await other.connect();
    try {
      const results = await Promise.all([migrate(pool, testLog), migrate(other, testLog)]);
      expect(results.flat()).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await other.end();
    }
    const { rows } = await pool.query<{ t: string }>(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((r) => r.t)).toEqual(['capture_wakeup', 'grant_changes', 'grants', 'relay_state', 'schema_migrations', 'vic_outcome_domains']);
  });
});

describe('database - grants table', () => {
  let pool: pg.Pool;

  beforeAll(async () => {
    ({ pool } = await freshDatabase());
    await migrate(pool, testLog);
  });

  it('database - every grant status is accepted and another is refused', async () => {
    for (const status of GRANT_STATUSES) await insertGrant(pool, { status });
    const err = await pgError(insertGrant(pool, { status: 'pending' }));
    expect(err.code).toBe('23514');
    expect(err.constraint).toBe('grants_status_check');
  });

  it('database - every location is accepted and another is refused', async () => {
    await insertGrant(pool, { locations: [...LOCATIONS] });
    for (const location of LOCATIONS) await insertGrant(pool, { locations: [location] });
    for (const bad of ['Victoria', 'vic', 'NZ']) {
      const err = await pgError(insertGrant(pool, { locations: ['VIC', bad] }));
      expect(err.code).toBe('23514');
      expect(err.constraint).toBe('grants_locations_check');
    }
  });

  it('database - vic_outcome_domains equals VIC_OUTCOME_DOMAINS', async () => {
    const { rows } = await pool.query<{ code: string }>('SELECT code FROM vic_outcome_domains ORDER BY code');
    expect(rows.map((r) => r.code)).toEqual([...VIC_OUTCOME_DOMAINS].sort());
    for (const domain of VIC_OUTCOME_DOMAINS) await insertGrant(pool, { vic_outcome_domain: domain });
    await insertGrant(pool, { vic_outcome_domain: null });
  });

  it('database - a vic_outcome_domain outside the enumeration is refused', async () => {
    const err = await pgError(insertGrant(pool, { vic_outcome_domain: 'tourism' }));
    expect(err.code).toBe('23503');
    const { id } = await insertGrant(pool, { vic_outcome_domain: 'health' });
    expect((await pgError(pool.query("UPDATE grants SET vic_outcome_domain = 'Education' WHERE id = $1", [id]))).code).toBe('23503');
  });

  it('database - min_amount above max_amount is refused', async () => {
    const err = await pgError(insertGrant(pool, { min_amount: '20000', max_amount: '5000' }));
    expect(err.code).toBe('23514');
    expect(err.constraint).toBe('grants_amounts_check');
    await insertGrant(pool, { min_amount: '5000', max_amount: '5000' });
  });

  it('database - a negative amount is refused', async () => {
    expect((await pgError(insertGrant(pool, { min_amount: '-1' }))).constraint).toBe('grants_min_amount_check');
    expect((await pgError(insertGrant(pool, { max_amount: '-0.01' }))).constraint).toBe('grants_max_amount_check');
  });

  it('database - an empty title is refused', async () => {
    expect((await pgError(insertGrant(pool, { title: '  ' }))).constraint).toBe('grants_title_check');
  });

  it('database - version is 1 on insert whatever the writer supplied', async () => {
    expect((await insertGrant(pool, { version: 99 })).version).toBe('1');
    expect((await insertGrant(pool, { version: 0 })).version).toBe('1');
    expect((await insertGrant(pool)).version).toBe('1');
  });

  it('database - version rises by exactly one per changing UPDATE, whatever version the writer sets', async () => {
    const { id } = await insertGrant(pool);
    const version = async () => (await stamps(pool, id)).version;
    await pool.query("UPDATE grants SET title = 'second' WHERE id = $1", [id]);
    expect(await version()).toBe('2');
    await pool.query("UPDATE grants SET title = 'third', version = 100 WHERE id = $1", [id]);
    expect(await version()).toBe('3');
    await pool.query("UPDATE grants SET title = 'fourth', version = 1 WHERE id = $1", [id]);
    expect(await version()).toBe('4');
    await pool.query("UPDATE grants SET description = 'x', version = version + 10 WHERE id = $1", [id]);
    expect(await version()).toBe('5');
    // Two changes in one transaction are two changes.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("UPDATE grants SET title = 'sixth' WHERE id = $1", [id]);
      await client.query("UPDATE grants SET title = 'seventh' WHERE id = $1", [id]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await version()).toBe('7');
  });

  it('database - a multi-row UPDATE raises each changed row by one and leaves unchanged rows alone', async () => {
    const a = await insertGrant(pool, { agency: 'x' });
    const b = await insertGrant(pool, { agency: 'y' });
    await pool.query("UPDATE grants SET agency = 'y' WHERE id = ANY($1::uuid[])", [[a.id, b.id]]);
    expect((await stamps(pool, a.id)).version).toBe('2');
    expect((await stamps(pool, b.id)).version).toBe('1');
  });

  it('database - an UPDATE that changes nothing keeps version and updated_at', async () => {
    const { id } = await insertGrant(pool, { min_amount: '5000.00', categories: ['a', 'b'] });
    const before = await stamps(pool, id);
    await pool.query('UPDATE grants SET title = title WHERE id = $1', [id]);
    // The same value written differently is no change.
    await pool.query("UPDATE grants SET min_amount = 5000, categories = '{a,b}' WHERE id = $1", [id]);
    // Writing only the stamps is no change either.
    await pool.query("UPDATE grants SET version = 99, updated_at = '2000-01-01', created_at = '2000-01-01' WHERE id = $1", [id]);
    expect(await stamps(pool, id)).toEqual(before);
  });

  it('database - updated_at moves on a real change only, and the writer cannot set it', async () => {
    const { id } = await insertGrant(pool, { created_at: '2000-01-01', updated_at: '2000-01-01' });
    const inserted = await stamps(pool, id);
    expect(inserted.updated_at.startsWith('2000')).toBe(false);
    expect(inserted.created_at.startsWith('2000')).toBe(false);
    await pool.query("UPDATE grants SET title = 'changed', updated_at = '2000-01-01' WHERE id = $1", [id]);
    const changed = await stamps(pool, id);
    expect(changed.updated_at.startsWith('2000')).toBe(false);
    expect(changed.updated_at).not.toBe(inserted.updated_at);
    const { rows } = await pool.query<{ later: boolean }>('SELECT $1::timestamptz > $2::timestamptz AS later', [changed.updated_at, inserted.updated_at]);
    expect(rows[0]!.later).toBe(true);
    expect(changed.created_at).toBe(inserted.created_at);
    await pool.query("UPDATE grants SET title = 'changed' WHERE id = $1", [id]);
    expect(await stamps(pool, id)).toEqual(changed);
  });

  it('database - a change to columns no index covers is a HOT update: the stamp moves no index (migration 005)', async () => {
    const { id } = await insertGrant(pool, { max_amount: 1000 });
    const c = await pool.connect();
    try {
      // The backend's counts not yet reported (pg_stat_get_xact_*), around the one update.
      const counts = async () => {
        const { rows } = await c.query<{ updated: string; hot: string }>("SELECT pg_stat_get_xact_tuples_updated('grants'::regclass) AS updated, pg_stat_get_xact_tuples_hot_updated('grants'::regclass) AS hot");
        return { updated: Number(rows[0]!.updated), hot: Number(rows[0]!.hot) };
      };
      await c.query('BEGIN');
      const before = await counts();
      await c.query('UPDATE grants SET max_amount = max_amount + 1 WHERE id = $1', [id]);
      const after = await counts();
      await c.query('COMMIT');
      expect({ updated: after.updated - before.updated, hot: after.hot - before.hot }).toEqual({ updated: 1, hot: 1 });
    } finally {
      c.release();
    }
    expect((await stamps(pool, id)).version).toBe('2');
  });

  it('database - changing id is refused', async () => {
    const { id } = await insertGrant(pool);
    const err = await pgError(pool.query('UPDATE grants SET id = gen_random_uuid() WHERE id = $1', [id]));
    expect(err.code).toBe('23000');
    expect(err.message).toContain('id cannot change');
    expect((await stamps(pool, id)).version).toBe('1');
  });

  it('database - (source, external_id) is unique', async () => {
    await insertGrant(pool, { source: 'dup', external_id: 'same' });
    expect((await pgError(insertGrant(pool, { source: 'dup', external_id: 'same' }))).code).toBe('23505');
  });

  it('database - a row read through the pool maps to JSON numbers and YYYY-MM-DD dates, in any time zone', async () => {
    const { id } = await insertGrant(pool, {
      min_amount: 5000,
      max_amount: '20000.5',
      open_date: '2026-03-31',
      close_date: '2026-01-01',
      status: 'open',
      locations: ['VIC'],
      vic_outcome_domain: 'education',
    });
    const savedTz = process.env.TZ;
    // Melbourne is UTC+11 on these dates: a date turned into a local-midnight Date and back
    // through toISOString would come out a day early.
    process.env.TZ = 'Australia/Melbourne';
    const client = await pool.connect();
    try {
      expect(new Date(2026, 2, 31).toISOString().slice(0, 10)).toBe('2026-03-30');
      await client.query("SET TIME ZONE 'Australia/Melbourne'");
      const { rows } = await client.query('SELECT * FROM grants WHERE id = $1', [id]);
      const grant = GrantFromRow.parse(rows[0]);
      const text = JSON.stringify(grant);
      expect(text).toContain('"minAmount":5000,');
      expect(text).toContain('"maxAmount":20000.5,');
      expect(text).toContain('"openDate":"2026-03-31"');
      expect(text).toContain('"closeDate":"2026-01-01"');
      expect(text).toContain('"version":1,');
      expect(grant.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

      // The change log's row_to_json copy of the same row maps to the same Grant.
      const logged = await client.query<{ row: unknown }>("SELECT row FROM grant_changes WHERE grant_id = $1 AND op = 'insert'", [id]);
      expect(GrantFromRow.parse(logged.rows[0]!.row)).toEqual(grant);
    } finally {
      await client.query('RESET TIME ZONE').catch(() => undefined);
      client.release();
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    }
  });
});

describe('database - change log', () => {
  let pool: pg.Pool;

  beforeAll(async () => {
    ({ pool } = await freshDatabase());
    await migrate(pool, testLog);
  });

  interface LogRow {
    log_id: string;
    op: string;
    grant_id: string;
    version: string;
    row: Record<string, unknown> | null;
  }

  const readLog = async () => (await pool.query<LogRow>('SELECT log_id, op, grant_id, version, row FROM grant_changes ORDER BY log_id')).rows;

  it('database - insert, changing update, no-op update, delete and a rollback leave exactly three log rows', async () => {
    await pool.query('DELETE FROM grant_changes');
    const { id } = await insertGrant(pool, { title: 'logged' });
    await pool.query("UPDATE grants SET title = 'logged again' WHERE id = $1", [id]);
    await pool.query('UPDATE grants SET title = title WHERE id = $1', [id]);
    await pool.query('DELETE FROM grants WHERE id = $1', [id]);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await insertGrant(client, { title: 'rolled back' });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }

    const log = await readLog();
    expect(log.map((r) => [r.op, r.grant_id, r.version])).toEqual([
      ['insert', id, '1'],
      ['update', id, '2'],
      ['delete', id, '3'],
    ]);
    expect(log[0]!.row).not.toBeNull();
    expect(log[1]!.row).not.toBeNull();
    expect(log[2]!.row).toBeNull();
    // The logged row is the row after the change, and maps to a Grant.
    expect(GrantFromRow.parse(log[0]!.row)).toMatchObject({ id, title: 'logged', version: 1 });
    expect(GrantFromRow.parse(log[1]!.row)).toMatchObject({ id, title: 'logged again', version: 2 });
  });

  it('database - TRUNCATE grants logs one delete per row', async () => {
    await pool.query('DELETE FROM grants');
    const a = await insertGrant(pool);
    const b = await insertGrant(pool);
    await pool.query("UPDATE grants SET title = 'b2' WHERE id = $1", [b.id]);
    await pool.query('DELETE FROM grant_changes');
    await pool.query('TRUNCATE grants');
    const log = await readLog();
    const byId = new Map(log.map((r) => [r.grant_id, r]));
    expect(log).toHaveLength(2);
    expect(log.every((r) => r.op === 'delete' && r.row === null)).toBe(true);
    expect(byId.get(a.id)?.version).toBe('2');
    expect(byId.get(b.id)?.version).toBe('3');
  });

  it('database - a rolled-back TRUNCATE logs nothing', async () => {
    await insertGrant(pool);
    await pool.query('DELETE FROM grant_changes');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('TRUNCATE grants');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await readLog()).toEqual([]);
    expect((await pool.query('SELECT 1 FROM grants')).rowCount).toBe(1);
  });
});
