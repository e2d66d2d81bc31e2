/**
 * Backup and restore under a running system (CONTRACT v1.1 section 1, docs/operations.md):
 * relay, gateway and invalidator each in its own process, a live WebSocket client, a warm
 * cache (Redis and the gateway's in-process layer). After `npm run restore --force` of an
 * older backup: the client is closed with 1001, resuming it gets `recovered:false` at a
 * `seq` above everything it saw, REST and the cache answer the restored database, and the
 * next change is published above every `seq` ever issued.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/db/migrate.js';
import { connect, token, type Client, type Frame } from '../gateway/harness.js';
import { startCli } from '../support/cli.js';
import { sample, startOpsStack, type OpsStack } from './stack.js';

let stack: OpsStack;
const dir = mkdtempSync(join(tmpdir(), 'navimpact-backup-'));

beforeAll(async () => {
  stack = await startOpsStack({}, ['relay', 'gateway', 'invalidator']);
}, 180_000);
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `npm run <cli> -- ...args` as an operator would, against the stack. */
async function cli(name: 'backup' | 'restore', args: string[]): Promise<{ code: number | null; out: string }> {
  const child = startCli(name, args, { DATABASE_URL: stack.db.url, NATS_URL: stack.nats.url, REDIS_URL: 'redis://127.0.0.1:6379', CACHE_PREFIX: stack.prefix });
  const { code } = await child.exited;
  return { code, out: child.lines.join('\n') };
}

type Row = { id: string; title: string; version: number };
async function rows(): Promise<Row[]> {
  return (await stack.sql('SELECT id, title, version::int AS version FROM grants ORDER BY id')).rows as Row[];
}

const seqOf = (f: Frame) => Number(f.seq);

describe('backup and restore', () => {
  it('backup - restore into a database that is not empty is refused without --force, and changes nothing', async () => {
    await stack.sql(`INSERT INTO grants (title) VALUES ('Kept')`);
    const file = join(dir, 'refused.backup');
    expect((await cli('backup', [file])).code).toBe(0);
    const before = await rows();
    const refused = await cli('restore', [file]);
    expect(refused.code).toBe(64);
    expect(refused.out).toContain('--force');
    expect(await rows()).toEqual(before);
    writeFileSync(join(dir, 'not-a-backup'), 'hello\n');
    expect((await cli('restore', [join(dir, 'not-a-backup'), '--force'])).code).toBe(65);
  }, 120_000);

  it('backup - a live client and a warm cache converge to the restored database; seq never goes back', async () => {
    const viewer = await token({ sub: 'restore-test', ttlSec: 3_600 });
    const ids = ((await stack.sql(`INSERT INTO grants (title) SELECT 'Before backup ' || g FROM generate_series(1, 10) g RETURNING id`)).rows as { id: string }[]).map((r) => r.id);
    let client: Client = await connect(stack.ports.gateway, { token: viewer });
    client.send({ type: 'subscribe', topic: 'grants' });
    await client.next((f) => f.type === 'subscribed');
    // Warm: each grant read twice (Redis, then the in-process layer).
    await expect.poll(async () => (await stack.get('gateway', `/v1/grants/${ids[9]}`, viewer)).status, { timeout: 15_000 }).toBe(200);
    for (const id of ids) for (let i = 0; i < 2; i++) await stack.get('gateway', `/v1/grants/${id}`, viewer);

    const file = join(dir, 'older.backup');
    const backup = await cli('backup', [file]);
    expect(backup.code, backup.out).toBe(0);
    const manifest = JSON.parse(backup.out.split('\n').at(-1)!) as { highestSeq: number; schemaVersion: number; grants: number };
    // The schema the backup was taken at: this release's latest migration.
    expect(manifest.schemaVersion).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    const restored = await rows();

    // After the backup: every grant changes, one is deleted, one is added. The client hears
    // of it all and the cache is warm with the newer versions.
    await stack.sql(`UPDATE grants SET title = 'After backup' WHERE id = ANY($1::uuid[])`, [ids]);
    await stack.sql('DELETE FROM grants WHERE id = $1', [ids[0]]);
    const added = (await stack.sql(`INSERT INTO grants (title) VALUES ('Added after backup') RETURNING id`)).rows[0].id as string;
    const lastEvent = await client.next((f) => f.type === 'grant' && f.id === added, 15_000, 'the last change before the restore');
    const seen = seqOf(lastEvent);
    expect(seen).toBeGreaterThan(manifest.highestSeq);
    await expect.poll(async () => (await stack.get('gateway', `/v1/grants/${ids[5]}`, viewer)).json?.title, { timeout: 15_000 }).toBe('After backup');
    for (const id of ids.slice(1)) for (let i = 0; i < 2; i++) await stack.get('gateway', `/v1/grants/${id}`, viewer);

    const restore = await cli('restore', [file, '--force']);
    expect(restore.code, restore.out).toBe(0);
    const report = JSON.parse(restore.out.split('\n').at(-1)!) as { seqContinuesAfter: number; stream: string };
    expect(report.seqContinuesAfter).toBeGreaterThan(seen);
    expect(report.stream).toBe('moved forward');
    expect(await rows()).toEqual(restored);

    // The live client is told to reconnect; resuming from what it saw, it must reload.
    expect((await client.closed).code).toBe(1001);
    client = await connect(stack.ports.gateway, { token: viewer });
    client.send({ type: 'subscribe', topic: 'grants', since: seen });
    const subscribed = await client.next((f) => f.type === 'subscribed', 15_000);
    expect(subscribed.recovered).toBe(false);
    expect(seqOf(subscribed)).toBeGreaterThanOrEqual(report.seqContinuesAfter);

    // REST and the cache answer the restored database: the older titles, the deleted grant
    // back, the added one gone.
    await expect
      .poll(async () => {
        const answers = await Promise.all(restored.map(async (r) => (await stack.get('gateway', `/v1/grants/${r.id}`, viewer)).json as Row));
        return answers.map((a) => ({ id: a.id, title: a.title, version: a.version }));
      }, { timeout: 30_000, interval: 250 })
      .toEqual(restored);
    expect((await stack.get('gateway', `/v1/grants/${added}`, viewer)).status).toBe(404);
    const page = await stack.get('gateway', '/v1/grants?limit=500', viewer);
    expect((page.json.items as Row[]).map((g) => ({ id: g.id, title: g.title, version: g.version }))).toEqual(restored);
    expect(page.json.seq).toBeGreaterThanOrEqual(report.seqContinuesAfter);

    // The next change is published above every seq ever issued.
    await stack.sql(`UPDATE grants SET title = 'After restore' WHERE id = $1`, [ids[1]]);
    const next = await client.next((f) => f.type === 'grant' && f.id === ids[1], 15_000, 'the first change after the restore');
    expect(seqOf(next)).toBe(report.seqContinuesAfter + 1);
    const metrics = await stack.get('gateway', '/metrics', stack.monitor);
    expect(sample(metrics.text, 'navimpact_feed_resets_total')).toBe(1);
    client.close();
  }, 180_000);
});
