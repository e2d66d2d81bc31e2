/**
 * What the capture trigger writes into the change log, read before any relay prunes it
 * (migration 006, issue 15): once a relay of this release has set the idle flag, an update
 * logs in `previous` only the filter fields it changed, with their old values; before that
 * (an older relay may still lead during a rolling upgrade) all nine, as 002 did. A delete
 * logs all nine, an insert none. The relay's reading of both shapes is in previous.test.ts.
 *
 * Since migration 007 an update's log row is written by the BEFORE trigger (`grants_stamp`):
 * a statement that fails after it takes the row with it, and the transaction has its id
 * before the trigger reads the idle flag (the idle protocol, capture/leader.ts).
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { setRelayIdle } from '../../src/capture/changelog.js';
import { testDatabases } from '../support/postgres.js';

const databases = testDatabases();
const migrated = () => databases.migrated();

afterAll(() => databases.close());

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

  it('capture log row - an update that fails after the BEFORE trigger logs nothing; the one after it logs once', async () => {
    const c = await migrated();
    await setRelayIdle(c, false);
    const { rows } = await c.query<{ id: string }>("INSERT INTO grants (source, external_id, title, max_amount) VALUES ('t', 'e-2', 'Before', 5000) RETURNING id");
    const id = rows[0]!.id;
    await c.query('BEGIN');
    await c.query('SAVEPOINT s');
    // min_amount above max_amount: the table's CHECK refuses the row the trigger stamped and logged.
    await expect(c.query('UPDATE grants SET min_amount = 6000 WHERE id = $1', [id])).rejects.toThrow(/grants_amounts_check/);
    await c.query('ROLLBACK TO SAVEPOINT s');
    await c.query("UPDATE grants SET title = 'After' WHERE id = $1", [id]);
    await c.query('COMMIT');
    const logged = await c.query<{ op: string; version: string; previous: unknown }>('SELECT op, version, previous FROM grant_changes ORDER BY log_id');
    expect(logged.rows).toEqual([
      { op: 'insert', version: '1', previous: null },
      { op: 'update', version: '2', previous: { title: 'Before' } },
    ]);
  });

  it('capture log row - a BEFORE UPDATE row trigger runs with the transaction id already assigned (the row lock)', async () => {
    // The idle protocol needs the writer to have its id before its trigger reads the flag;
    // since 007 the flag is read in a BEFORE trigger, before the new row is written.
    const c = await migrated();
    await c.query('CREATE TABLE xid_probe (id int PRIMARY KEY, v int, seen xid8)');
    await c.query(`CREATE FUNCTION xid_probe_seen() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.seen := pg_current_xact_id_if_assigned(); RETURN NEW; END $$`);
    await c.query('CREATE TRIGGER xid_probe_seen BEFORE UPDATE ON xid_probe FOR EACH ROW EXECUTE FUNCTION xid_probe_seen()');
    await c.query('INSERT INTO xid_probe VALUES (1, 1, NULL)');
    await c.query('BEGIN');
    const before = await c.query<{ xid: string | null }>('SELECT pg_current_xact_id_if_assigned()::text AS xid');
    expect(before.rows[0]!.xid).toBeNull();
    await c.query('UPDATE xid_probe SET v = 2');
    const after = await c.query<{ seen: string | null; xid: string }>('SELECT seen::text, pg_current_xact_id()::text AS xid FROM xid_probe');
    await c.query('COMMIT');
    expect(after.rows[0]!.seen).toBe(after.rows[0]!.xid);
  });

  it('capture log row - grants_stamp is the last BEFORE row trigger on grants and no column is generated (what it logs is the row stored)', async () => {
    // A BEFORE trigger after it could change or cancel the row it logged; a generated
    // column is computed after BEFORE triggers, so the log would miss its value.
    const c = await migrated();
    const triggers = await c.query<{ name: string }>(
      `SELECT tgname AS name FROM pg_trigger WHERE tgrelid = 'grants'::regclass AND NOT tgisinternal
        AND (tgtype & 1) = 1 AND (tgtype & 2) = 2 ORDER BY tgname`,
    );
    expect(triggers.rows.map((r) => r.name)).toEqual(['grants_stamp']);
    const generated = await c.query("SELECT attname FROM pg_attribute WHERE attrelid = 'grants'::regclass AND attgenerated <> ''");
    expect(generated.rows).toEqual([]);
  });
});
