/**
 * Capture cannot be bypassed by shadowing its tables (issue 10 item 5). The capture
 * functions are SECURITY DEFINER; with the search path saved by `FROM CURRENT`, Postgres
 * looked in the writer's `pg_temp` first, so a session that created a temporary
 * `grant_changes` (or `capture_wakeup`) logged its own changes there and the relay never
 * saw them. Migration 003 pins the path with `pg_temp` last.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/db/migrate.js';
import { testLog } from '../support/log.js';
import { testDatabases } from '../support/postgres.js';

const databases = testDatabases();
const client = (url: string) => databases.client(url);

afterAll(() => databases.close());

/** A fresh database, migrated fully or only up to `upTo` (to show the defect). */
async function database(upTo?: number): Promise<string> {
  const db = await databases.database();
  if (upTo === undefined) {
    const c = await client(db.url);
    await migrate(c, testLog);
  } else {
    const c = await client(db.url);
    for (const m of MIGRATIONS.filter((m) => m.version <= upTo)) await c.query(m.sql);
  }
  return db.url;
}

/**
 * A writer that shadows both tables the capture functions use, with exactly their shape,
 * then inserts, updates and deletes a grant. Returns the grant's id.
 */
async function shadowingWriter(url: string): Promise<string> {
  const writer = await client(url);
  await writer.query('CREATE TEMP TABLE grant_changes (LIKE public.grant_changes INCLUDING ALL)');
  await writer.query('CREATE TEMP TABLE capture_wakeup (LIKE public.capture_wakeup INCLUDING ALL)');
  await writer.query('INSERT INTO capture_wakeup DEFAULT VALUES');
  const { rows } = await writer.query<{ id: string }>("INSERT INTO grants (source, external_id, title) VALUES ('shadow', 'x1', 'Before') RETURNING id");
  const id = rows[0]!.id;
  await writer.query("UPDATE grants SET title = 'After' WHERE id = $1", [id]);
  await writer.query('DELETE FROM grants WHERE id = $1', [id]);
  return id;
}

async function logged(url: string, id: string): Promise<string[]> {
  const reader = await client(url);
  const { rows } = await reader.query<{ op: string }>('SELECT op FROM public.grant_changes WHERE grant_id = $1 ORDER BY log_id', [id]);
  return rows.map((r) => r.op);
}

describe('capture - search path', () => {
  it('capture - a writer with temporary grant_changes and capture_wakeup tables is still captured in the real change log', async () => {
    const url = await database();
    const id = await shadowingWriter(url);
    expect(await logged(url, id)).toEqual(['insert', 'update', 'delete']);
  });

  it('capture - without migration 003 the same writer bypasses capture (the defect the migration fixes)', async () => {
    const url = await database(2);
    const id = await shadowingWriter(url);
    expect(await logged(url, id)).toEqual([]);
  });

  it('capture - every SECURITY DEFINER function of the schema searches pg_temp last', async () => {
    const url = await database();
    const c = await client(url);
    const { rows } = await c.query<{ name: string; config: string[] | null }>(
      `SELECT p.proname AS name, p.proconfig AS config FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.prosecdef ORDER BY p.proname`,
    );
    // grants_stamp since 007: it writes an update's log row.
    expect(rows.map((r) => r.name)).toEqual(['grants_capture', 'grants_capture_truncate', 'grants_stamp']);
    for (const row of rows) {
      const path = (row.config ?? []).find((s) => s.startsWith('search_path='));
      expect(path, row.name).toBe('search_path=pg_catalog, public, pg_temp');
    }
  });
});
