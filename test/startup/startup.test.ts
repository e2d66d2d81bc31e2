/**
 * Start-up and shutdown of the real entry point (src/main.ts in a child process):
 * one clear line and the documented exit code when something is wrong (CONTRACT section 1,
 * issue 2 acceptance 6), `migrate` on a fresh database, and an orderly SIGTERM.
 *
 * Exit codes (main.ts): 78 bad configuration, 69 Postgres or NATS unreachable, 0 after
 * an orderly shutdown.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { LogCode } from '../../src/domain/codes.js';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { SHARED_PG, createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { hasCode, startService } from '../support/service.js';
import type { Child } from '../support/process.js';

const databases: TestDatabase[] = [];
const natsServers: PrivateNats[] = [];
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await Promise.all(natsServers.map((n) => n.stop()));
  await Promise.all(databases.map((d) => d.drop()));
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

/** Runs the service, collecting stderr apart from stdout (Child.lines holds both). */
function run(env: Record<string, string>, args: string[] = []): { child: Child; stderr: () => string[] } {
  const child = startService(env, args);
  children.push(child);
  let err = '';
  child.proc.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  return { child, stderr: () => err.split('\n').filter((l) => l.trim().length > 0) };
}

/** The stdout lines: everything in Child.lines that stderr did not write. */
function stdoutLines(child: Child, stderr: string[]): string[] {
  return child.lines.filter((l) => !stderr.includes(l));
}

describe('startup - refusals', () => {
  it('startup - DATABASE_URL at a closed port exits 69 with one line naming DATABASE_URL', async () => {
    const port = await freePort();
    const { child, stderr } = run({ ROLES: 'relay', DATABASE_URL: `postgres://root:pg-pass-7731@127.0.0.1:${port}/navimpact` });
    const { code } = await child.exited;
    expect(code).toBe(69);
    expect(child.lines).toHaveLength(1);
    expect(stderr()).toEqual(child.lines);
    expect(child.lines[0]).toContain('DATABASE_URL');
    expect(child.lines[0]).toContain(`127.0.0.1:${port}`);
    // The line names the server, never the password.
    expect(child.lines[0]).not.toContain('pg-pass-7731');
  });

  it('startup - NATS_URL at a closed port exits 69 with one line naming NATS_URL', async () => {
    const db = await database();
    const port = await freePort();
    const { child, stderr } = run({ ROLES: 'relay', DATABASE_URL: db.url, NATS_URL: `nats://127.0.0.1:${port}` });
    const { code } = await child.exited;
    expect(code).toBe(69);
    const errors = stderr();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('NATS_URL');
    expect(errors[0]).toContain(`127.0.0.1:${port}`);
    // Whatever else was said went to stdout as JSON log lines (the migrations it applied).
    for (const line of stdoutLines(child, errors)) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(child.lines.filter((l) => l.includes('NATS_URL'))).toHaveLength(1);
  });

  it('startup - PORT=abc exits 78 with one line naming PORT', async () => {
    const { child, stderr } = run({ ROLES: 'relay', PORT: 'abc' });
    const { code } = await child.exited;
    expect(code).toBe(78);
    expect(child.lines).toHaveLength(1);
    expect(stderr()).toEqual(child.lines);
    expect(child.lines[0]).toMatch(/\bPORT\b/);
    expect(child.lines[0]).toContain('abc');
  });

  for (const origins of ['*', 'http://localhost:3000']) {
    it(`startup - APP_ENV=production with CORS_ORIGINS=${origins} exits 78 with one line naming CORS_ORIGINS`, async () => {
      const { child, stderr } = run({ ROLES: 'gateway', APP_ENV: 'production', CORS_ORIGINS: origins, JWT_SECRET: 'x'.repeat(40) });
      const { code } = await child.exited;
      expect(code).toBe(78);
      expect(child.lines).toHaveLength(1);
      expect(stderr()).toEqual(child.lines);
      expect(child.lines[0]).toContain('CORS_ORIGINS');
    });
  }

  it('startup - a gateway without token keys exits 78 with one line naming JWT_SECRET', async () => {
    const { child, stderr } = run({ ROLES: 'gateway' });
    const { code } = await child.exited;
    expect(code).toBe(78);
    expect(child.lines).toHaveLength(1);
    expect(stderr()).toEqual(child.lines);
    expect(child.lines[0]).toContain('JWT_SECRET');
  });

  it('startup - a short JWT_SECRET exits 78 without printing it', async () => {
    const { child } = run({ ROLES: 'relay', JWT_SECRET: 'too-short-secret-4411' });
    expect((await child.exited).code).toBe(78);
    expect(child.lines).toHaveLength(1);
    expect(child.lines[0]).toContain('JWT_SECRET');
    expect(child.lines[0]).not.toContain('too-short-secret-4411');
  });
});

describe('startup - migrate', () => {
  const tables = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      return rows.map((r) => r.t);
    } finally {
      await client.end();
    }
  };
  const ALL = ['capture_wakeup', 'grant_changes', 'grants', 'relay_state', 'schema_migrations', 'vic_outcome_domains'];

  it('startup - migrate on a fresh database exits 0, creates the tables, and is idempotent', async () => {
    const db = await database();
    expect(await tables(db.url)).toEqual([]);
    const first = run({ DATABASE_URL: db.url }, ['migrate']).child;
    expect((await first.exited).code).toBe(0);
    expect(first.lines.some(hasCode(LogCode.MigrationApplied))).toBe(true);
    expect(await tables(db.url)).toEqual(ALL);

    const second = run({ DATABASE_URL: db.url }, ['migrate']).child;
    expect((await second.exited).code).toBe(0);
    expect(second.lines.some(hasCode(LogCode.MigrationApplied))).toBe(false);
    expect(await tables(db.url)).toEqual(ALL);
  });

  it('startup - migrate creates a database that does not exist yet', async () => {
    const name = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const url = new URL(SHARED_PG);
    url.pathname = `/${name}`;
    databases.push({
      url: url.toString(),
      name,
      drop: async () => {
        const c = new pg.Client({ connectionString: SHARED_PG });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    });
    const { child } = run({ DATABASE_URL: url.toString() }, ['migrate']);
    expect((await child.exited).code).toBe(0);
    expect(await tables(url.toString())).toEqual(ALL);
  });
});

describe('startup - shutdown', () => {
  it('startup - a relay-only service leads, then shuts down on SIGTERM with exit 0 well before the deadline', async () => {
    const db = await database();
    const nats = await PrivateNats.start();
    natsServers.push(nats);
    const deadlineMs = 20_000;
    const { child } = run({ ROLES: 'relay', DATABASE_URL: db.url, NATS_URL: nats.url, SHUTDOWN_TIMEOUT: `${deadlineMs}ms` });
    await child.waitFor(hasCode(LogCode.RelayLeaderAcquired), 20_000, 'RelayLeaderAcquired');
    await child.waitFor((l) => l.includes('"msg":"started"'), 20_000, 'started');

    // The publishing relay holds an advisory lock; find it so we can see it released.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows: locks } = await admin.query<{ k1: number; k2: number }>(
        `SELECT classid::text::int AS k1, objid::text::int AS k2 FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(locks).toHaveLength(1);

      const signalledAt = Date.now();
      child.proc.kill('SIGTERM');
      await child.waitFor(hasCode(LogCode.ShutdownStarted), 5_000, 'ShutdownStarted');
      const { code, signal } = await child.exited;
      const tookMs = Date.now() - signalledAt;

      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(deadlineMs / 4);
      expect(child.lines.some(hasCode(LogCode.ShutdownTimeout))).toBe(false);
      expect(child.lines.some(hasCode(LogCode.ShutdownStepFailed))).toBe(false);
      const started = JSON.parse(child.lines.find(hasCode(LogCode.ShutdownStarted))!) as { reason?: string; level?: string };
      expect(started.reason).toBe('SIGTERM');
      expect(started.level).toBe('info');

      // The leadership is free for a standby: taking the lock waits for the relay's session
      // to end, and fails if it is still held after lock_timeout.
      await admin.query("SET lock_timeout = '5s'");
      await admin.query('SELECT pg_advisory_lock($1, $2)', [locks[0]!.k1, locks[0]!.k2]);
      await admin.query('SELECT pg_advisory_unlock($1, $2)', [locks[0]!.k1, locks[0]!.k2]);
    } finally {
      await admin.end();
    }
  });
});
