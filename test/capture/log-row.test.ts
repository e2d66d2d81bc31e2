/**
 * What the capture trigger writes into the change log, read before any relay prunes it
 * (migration 006, issue 15): once a relay of this release has set the idle flag, an update
 * logs in `previous` only the filter fields it changed, with their old values; before that
 * (an older relay may still lead during a rolling upgrade) all nine, as 002 did. A delete
 * logs all nine, an insert none. The relay's reading of both shapes is in previous.test.ts.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { setRelayIdle } from '../../src/capture/changelog.js';
import { migrate } from '../../src/db/migrate.js';
import { testLog } from '../support/log.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const databases: TestDatabase[] = [];
const clients: pg.Client[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await Promise.all(databases.map((d) => d.drop()));
});

async function migrated(): Promise<pg.Client> {
  const db = await createTestDatabase();
  databases.push(db);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  clients.push(c);
  await migrate(c, testLog);
  return c;
}

/** Inserts a grant, changes it three ways, deletes it; the log's rows in order. */
async function changes(c: pg.Client): Promise<{ op: string; version: string; previous: unknown }[]> {
  const { rows } = await c.query<{ id: string }>(
    "INSERT INTO grants (source, external_id, title, description, max_amount, close_date, locations) VALUES ('t', 'e-1', 'Before', 'Long text', 20000, '2026-06-30', '{VIC}') RETURNING id",
  );
  const id = rows[0]!.id;
  await c.query("UPDATE grants SET max_amount = 25000, status = 'closed', url = 'https://example.org/g' WHERE id = $1", [id]);
  await c.query('UPDATE grants SET min_amount = 100 WHERE id = $1', [id]);
  await c.query("UPDATE grants SET description = NULL, vic_outcome_domain = NULL, title = 'After' WHERE id = $1", [id]);
  await c.query('DELETE FROM grants WHERE id = $1', [id]);
  return (await c.query<{ op: string; version: string; previous: unknown }>('SELECT op, version, previous FROM grant_changes ORDER BY log_id')).rows;
}

const nine = (title: string, description: string | null, maxAmount: number, status: string) => ({
  source: 't', title, description, agency: null, max_amount: maxAmount, close_date: '2026-06-30', status, locations: ['VIC'], vic_outcome_domain: null,
});

describe('capture log row', () => {
  it('capture log row - after a relay of this release set the idle flag: an update logs the old values of the filter fields it changed', async () => {
    const c = await migrated();
    await setRelayIdle(c, false);
    expect(await changes(c)).toEqual([
      { op: 'insert', version: '1', previous: null },
      { op: 'update', version: '2', previous: { max_amount: 20000, status: 'open' } },
      { op: 'update', version: '3', previous: {} },
      { op: 'update', version: '4', previous: { title: 'Before', description: 'Long text' } },
      { op: 'delete', version: '5', previous: nine('After', null, 25000, 'closed') },
    ]);
    // The log is a queue: a vacuum keeps its emptied pages for the next writers.
    const { rows } = await c.query<{ reloptions: string[] }>("SELECT reloptions FROM pg_class WHERE oid = 'grant_changes'::regclass");
    expect(rows[0]!.reloptions).toContain('vacuum_truncate=false');
  });

  it('capture log row - before any relay of this release led: all nine, for an older relay', async () => {
    const c = await migrated();
    expect(await changes(c)).toEqual([
      { op: 'insert', version: '1', previous: null },
      { op: 'update', version: '2', previous: nine('Before', 'Long text', 20000, 'open') },
      { op: 'update', version: '3', previous: nine('Before', 'Long text', 25000, 'closed') },
      { op: 'update', version: '4', previous: nine('Before', 'Long text', 25000, 'closed') },
      { op: 'delete', version: '5', previous: nine('After', null, 25000, 'closed') },
    ]);
  });
});
