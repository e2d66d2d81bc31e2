/**
 * What the capture trigger writes into the change log, read before any relay prunes it
 * (migration 006, issue 15): an update logs in `previous` only the filter fields it
 * changed, with their old values; a delete logs all nine; an insert none. The relay's
 * reading of both this and 002's older rows (all nine on an update) is in previous.test.ts.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { testLog } from '../support/log.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase | undefined;
let client: pg.Client | undefined;

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe('capture log row', () => {
  it('capture log row - an update logs the old values of the filter fields it changed, a delete all nine', async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await migrate(client, testLog);
    const c = client;
    const { rows } = await c.query<{ id: string }>(
      "INSERT INTO grants (source, external_id, title, description, max_amount, close_date, locations) VALUES ('t', 'e-1', 'Before', 'Long text', 20000, '2026-06-30', '{VIC}') RETURNING id",
    );
    const id = rows[0]!.id;
    await c.query("UPDATE grants SET max_amount = 25000, status = 'closed', url = 'https://example.org/g' WHERE id = $1", [id]);
    await c.query('UPDATE grants SET min_amount = 100 WHERE id = $1', [id]);
    await c.query("UPDATE grants SET description = NULL, vic_outcome_domain = NULL, title = 'After' WHERE id = $1", [id]);
    await c.query('DELETE FROM grants WHERE id = $1', [id]);
    const logged = await c.query<{ op: string; version: string; previous: unknown }>('SELECT op, version, previous FROM grant_changes ORDER BY log_id');
    expect(logged.rows).toEqual([
      { op: 'insert', version: '1', previous: null },
      { op: 'update', version: '2', previous: { max_amount: 20000, status: 'open' } },
      { op: 'update', version: '3', previous: {} },
      { op: 'update', version: '4', previous: { title: 'Before', description: 'Long text' } },
      {
        op: 'delete',
        version: '5',
        previous: { source: 't', title: 'After', description: null, agency: null, max_amount: 25000, close_date: '2026-06-30', status: 'closed', locations: ['VIC'], vic_outcome_domain: null },
      },
    ]);
    // The log is a queue: a vacuum keeps its emptied pages for the next writers.
    const { rows: options } = await c.query<{ reloptions: string[] }>("SELECT reloptions FROM pg_class WHERE oid = 'grant_changes'::regclass");
    expect(options[0]!.reloptions).toContain('vacuum_truncate=false');
  });
});
