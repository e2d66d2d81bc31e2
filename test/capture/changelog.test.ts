/**
 * The relay's reads of the change log against Postgres (capture/changelog.ts): a read that
 * also records the batch before it does both in one statement, and leaves the rows it
 * deleted out of what it returns although its snapshot still sees them.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { readBatch, readState } from '../../src/capture/changelog.js';
import { testDatabases } from '../support/postgres.js';

const databases = testDatabases();
const migrated = () => databases.migrated();

afterAll(() => databases.close());

const logIds = async (c: pg.Client) => (await c.query<{ log_id: string }>('SELECT log_id FROM grant_changes ORDER BY log_id')).rows.map((r) => r.log_id);

describe('change log', () => {
  it('change log - a read with the batch before it records that batch and reads the next, in one statement', async () => {
    const c = await migrated();
    await c.query("INSERT INTO grants (source, external_id, title) SELECT 't', 'e' || g, 'Grant ' || g FROM generate_series(1, 5) g");
    const all = await logIds(c);
    expect(all).toHaveLength(5);

    const first = await readBatch(c, 2);
    expect(first.map((x) => x.logId)).toEqual(all.slice(0, 2));

    const second = await readBatch(c, 2, { logIds: first.map((x) => x.logId), streamSeq: 2 });
    expect(second.map((x) => x.logId)).toEqual(all.slice(2, 4));
    expect(await logIds(c)).toEqual(all.slice(2));
    expect((await readState(c)).streamSeq).toBe(2);

    // Recording the last batch while nothing is left to read: the record still lands.
    const rest = await readBatch(c, 2, { logIds: second.map((x) => x.logId), streamSeq: 4 });
    expect(rest.map((x) => x.logId)).toEqual(all.slice(4));
    const none = await readBatch(c, 2, { logIds: rest.map((x) => x.logId), streamSeq: 5 });
    expect(none).toEqual([]);
    expect(await logIds(c)).toEqual([]);
    expect((await readState(c)).streamSeq).toBe(5);
  });

  it('change log - a read that Postgres refuses records nothing (record and read are one statement, not two)', async () => {
    const c = await migrated();
    await c.query("INSERT INTO grants (source, external_id, title) VALUES ('t', 'e1', 'Grant 1')");
    const before = await logIds(c);
    // A limit Postgres refuses fails the statement before its delete and record run; a
    // record made by a statement of its own would have landed.
    await expect(readBatch(c, -1, { logIds: before, streamSeq: 1 })).rejects.toThrow(/LIMIT must not be negative/);
    expect(await logIds(c)).toEqual(before);
    expect((await readState(c)).streamSeq).toBe(0);
  });
});
