/**
 * Migrating a live database: a run that changes a capture table and then `grants` (005 ->
 * 007 in one go) must not deadlock with a writer that already holds a row of `grants` and
 * has yet to read `capture_wakeup` (its trigger does). Found by review of migration 007:
 * without `grants` locked first (db/migrate.ts), Postgres aborted the writer with
 * "deadlock detected".
 */
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/db/migrate.js';
import { testLog } from '../support/log.js';
import { testDatabases } from '../support/postgres.js';

const databases = testDatabases();
const client = (url: string) => databases.client(url);

afterAll(() => databases.close());

/** Resolves once the session `pid` waits for a lock. */
async function waitingForLock(observer: pg.Client, pid: number): Promise<void> {
  for (;;) {
    const { rows } = await observer.query<{ waiting: boolean }>("SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.waiting) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('migrate - a live database', () => {
  it('migrate - 005 to the latest while a writer holds a grant: the writer goes on, then the migrations apply', async () => {
    const db = await databases.database();
    const setup = await client(db.url);
    await migrate(setup, testLog, { migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    const { rows } = await setup.query<{ id: string }>("INSERT INTO grants (source, external_id, title) VALUES ('t', 'e1', 'Before') RETURNING id");
    const id = rows[0]!.id;

    const writer = await client(db.url);
    await writer.query('BEGIN');
    await writer.query('SELECT id FROM grants WHERE id = $1 FOR UPDATE', [id]);

    const migrator = await client(db.url);
    const migratorPid = (await migrator.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const migrating = migrate(migrator, testLog, { lockTimeoutMs: 60_000 });
    await waitingForLock(setup, migratorPid);

    // The writer's trigger reads capture_wakeup now; the migrator must not be holding it.
    await writer.query("UPDATE grants SET title = 'After' WHERE id = $1", [id]);
    await writer.query('COMMIT');
    expect(await migrating).toEqual(MIGRATIONS.filter((m) => m.version > 5).map((m) => m.version));

    const logged = await setup.query<{ op: string; version: string }>('SELECT op, version FROM grant_changes WHERE grant_id = $1 ORDER BY log_id', [id]);
    expect(logged.rows).toEqual([
      { op: 'insert', version: '1' },
      { op: 'update', version: '2' },
    ]);
  });

  it('migrate - a long transaction on grants does not stall its readers behind a pending migration: the run gives up its wait and tries again', async () => {
    const db = await databases.database();
    const setup = await client(db.url);
    await migrate(setup, testLog, { migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    await setup.query("INSERT INTO grants (source, external_id, title) VALUES ('t', 'e1', 'A grant')");

    // A long reader (a backup, a report): it holds grants until the test lets it go.
    const holder = await client(db.url);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM grants');

    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const migrator = await client(db.url);
    const migratorPid = (await migrator.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const migrating = migrate(migrator, log, { lockTimeoutMs: 200 });
    await waitingForLock(setup, migratorPid);
    // A second process starting meanwhile waits on the migration lock, not in grants' queue.
    const second = await client(db.url);
    const secondMigrating = migrate(second, log, { lockTimeoutMs: 200 });

    // A reader arriving now queues behind the migration's lock request only until that
    // request gives up; without the timeout it would wait for the holder, which waits for it.
    const reader = await client(db.url);
    await reader.query("SET statement_timeout = '10s'");
    const { rows } = await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM grants');
    expect(rows[0]!.n).toBe(1);

    await holder.query('COMMIT');
    expect(await migrating).toEqual(MIGRATIONS.filter((m) => m.version > 5).map((m) => m.version));
    expect(await secondMigrating).toEqual([]);
    expect(await secondMigrating).toEqual([]);
    const waits = lines.map((l) => JSON.parse(l) as { code?: string }).filter((l) => l.code === 'MigrationLockWait');
    expect(waits.length).toBeGreaterThan(0);
  });
});
