/**
 * `npm run restore` against the database's other sessions and older backups
 * (src/cli/restore.ts, docs/operations.md "Backups"): a backup of an older release comes
 * back at this release's schema, in the replay's own transaction; a long transaction on
 * `grants` does not stall the service's readers behind the restore, which gets through once
 * it ends, or exits 75 with nothing restored when it lasts past `--lock-wait`. Stdout holds
 * only the result line; a dump cut short fails naming pg_restore. NATS is left unreachable,
 * so the shared stream is never moved.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../src/db/migrate.js';
import { startCli } from '../support/cli.js';
import { testLog } from '../support/log.js';
import { testDatabases, type TestDatabase } from '../support/postgres.js';

const OLDER = 5;
const dir = mkdtempSync(join(tmpdir(), 'navimpact-restore-'));
const dbs = testDatabases();

/** Runs a backup or restore CLI against `db`; its exit code, stdout and stderr lines apart. */
async function cli(name: 'backup' | 'restore', args: string[], db: TestDatabase) {
  const child = startCli(name, args, { DATABASE_URL: db.url, NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:6379', CACHE_PREFIX: `t${db.name}:` });
  const stdout: string[] = [];
  child.proc.stdout!.on('data', (c: Buffer) => stdout.push(...c.toString('utf8').split('\n').filter(Boolean)));
  return { child, done: child.exited.then(async ({ code }) => (await child.closed, { code, stdout, all: child.lines.join('\n') })) };
}

/** What makes a schema: each column's table, name and type, each trigger, each function's name and security. */
async function schemaOf(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query<{ s: string }>(`
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type AS s FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'function ' || proname || ' definer=' || prosecdef || ' ' || coalesce(array_to_string(proconfig, ','), '') FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 'migration ' || version || ' ' || name FROM schema_migrations
    ORDER BY 1`);
  return rows.map((r) => r.s);
}

describe('restore - locks and older backups', () => {
  let target: TestDatabase;
  let client: pg.Client;
  let file: string;
  const titles = async () => (await client.query<{ title: string }>(`SELECT title FROM grants WHERE source <> 'bulk' ORDER BY title`)).rows.map((r) => r.title);

  beforeAll(async () => {
    // A backup taken by a database at migration 5, holding two grants.
    const older = await dbs.database();
    const oc = await dbs.client(older.url);
    await migrate(oc, testLog, { migrations: MIGRATIONS.filter((m) => m.version <= OLDER) });
    await oc.query(`INSERT INTO grants (title) VALUES ('Backed up one'), ('Backed up two')`);
    // And enough rows that pg_restore is still writing when psql gives up (a few MB of SQL
    // against pipes of 64 KB): the restore must still say that a lock was not given.
    await oc.query(`INSERT INTO grants (title, description, source, external_id) SELECT 'Bulk ' || g, repeat('A grant description. ', 50), 'bulk', 'b' || g FROM generate_series(1, 5000) g`);
    file = join(dir, 'older.backup');
    const backup = await (await cli('backup', [file], older)).done;
    expect(backup.code, backup.all).toBe(0);
    // The target: this release's schema, one grant of its own.
    target = await dbs.database();
    client = await dbs.client(target.url);
    await migrate(client, testLog);
    await client.query(`INSERT INTO grants (title) VALUES ('Before the restore')`);
  }, 120_000);

  afterAll(async () => {
    await dbs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restore - the tables held past --lock-wait: exit 75, nothing restored, readers served meanwhile', async () => {
    const holder = await dbs.client(target.url);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM grants');
    try {
      const restore = await cli('restore', [file, '--force', '--lock-wait', '3'], target);
      await restore.child.waitFor((l) => l.includes('"code":"RestoreLockWait"'), 30_000, 'RestoreLockWait');
      // The restore is waiting for grants: a reader still gets through (statement_timeout
      // makes a reader queued behind the restore's lock request fail instead of hang).
      await client.query(`SET statement_timeout = '10s'`);
      expect(await titles()).toEqual(['Before the restore']);
      const { code, stdout, all } = await restore.done;
      expect(code, all).toBe(75);
      expect(all).toContain('nothing was restored');
      expect(stdout).toEqual([]);
      expect(await titles()).toEqual(['Before the restore']);
    } finally {
      await holder.query('ROLLBACK');
    }
  }, 60_000);

  it('restore - a backup whose dump is cut short: exit 70 naming pg_restore, nothing restored', async () => {
    const whole = readFileSync(file);
    const cut = join(dir, 'cut.backup');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const { code, all } = await (await cli('restore', [cut, '--force'], target)).done;
    expect(code, all).toBe(70);
    expect(all).toContain('pg_restore failed');
    expect(await titles()).toEqual(['Before the restore']);
  }, 60_000);

  it('restore - an older backup under a long transaction: readers served while it waits; then restored at this release\'s schema, one result line on stdout', async () => {
    const fresh = await dbs.migrated();
    const holder = await dbs.client(target.url);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM grants');
    const restore = await cli('restore', [file, '--force'], target);
    try {
      await restore.child.waitFor((l) => l.includes('"code":"RestoreLockWait"'), 30_000, 'RestoreLockWait');
      await client.query(`SET statement_timeout = '10s'`);
      expect(await titles()).toEqual(['Before the restore']);
    } finally {
      await holder.query('COMMIT');
    }
    const { code, stdout, all } = await restore.done;
    expect(code, all).toBe(0);
    expect(stdout).toHaveLength(1);
    expect(JSON.parse(stdout[0]!)).toMatchObject({ manifest: { schemaVersion: OLDER } });
    expect(await titles()).toEqual(['Backed up one', 'Backed up two']);
    // Every migration after 5 applied and recorded, as on a database migrated from scratch.
    const migrated = await schemaOf(client);
    expect(migrated.filter((s) => s.startsWith('migration ')).map((s) => Number(s.split(' ')[1]))).toEqual(MIGRATIONS.map((m) => m.version));
    expect(migrated).toEqual(await schemaOf(fresh));
    // And the restored database captures as this release does: an update stamps and logs.
    await client.query(`UPDATE grants SET title = 'Changed' WHERE title = 'Backed up one'`);
    const logged = await client.query<{ op: string; version: string }>(`SELECT op, version FROM grant_changes ORDER BY log_id DESC LIMIT 1`);
    expect(logged.rows[0]).toEqual({ op: 'update', version: '2' });
  }, 120_000);
});
