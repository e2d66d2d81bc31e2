/**
 * deploy/postgres/init-navimpact.sh, as the production compose runs it: a role that owns its
 * database and is no superuser. The service runs as that role: its migrations, the capture
 * triggers and the relay work, and the role can do nothing a superuser could. (The shared
 * test server trusts local connections, so the password itself is checked by the compose's
 * SCRAM setting, not here.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { readStream } from '../capture/harness.js';
import { PrivateNats } from '../support/nats.js';
import { SHARED_PG } from '../support/postgres.js';
import { hasCode, startService } from '../support/service.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('deploy - the service role of Postgres', () => {
  const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
  const db = `t_role_${suffix}`;
  const role = `t_role_${suffix}_owner`;
  const dir = mkdtempSync(join(tmpdir(), 'navimpact-pg-role-'));
  const admin = new URL(SHARED_PG);

  afterAll(async () => {
    const c = new pg.Client({ connectionString: SHARED_PG });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${role}`);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('postgres role - init-navimpact.sh makes an owner that is no superuser; the service migrates and captures as it', async () => {
    writeFileSync(join(dir, 'password'), 'role-password-for-tests\n');
    execFileSync('sh', ['deploy/postgres/init-navimpact.sh'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        PGHOST: admin.hostname,
        PGPORT: admin.port || '5432',
        POSTGRES_USER: decodeURIComponent(admin.username),
        POSTGRES_DB: admin.pathname.slice(1),
        NAVIMPACT_DB_NAME: db,
        NAVIMPACT_DB_USER: role,
        NAVIMPACT_DB_PASSWORD_FILE: join(dir, 'password'),
      },
      stdio: 'pipe',
    });
    const url = new URL(SHARED_PG);
    url.username = role;
    url.password = 'role-password-for-tests';
    url.pathname = `/${db}`;

    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      const { rows: [me] } = await c.query<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean; owner: string }>(
        `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, pg_get_userbyid(d.datdba) AS owner
         FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
      );
      expect(me).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, owner: role });

      // The service as it starts in production: migrations first, as this role.
      const migrate = startService({ DATABASE_URL: url.toString() }, ['migrate']);
      expect((await migrate.exited).code, migrate.lines.slice(-5).join('\n')).toBe(0);
      const { rows: owners } = await c.query<{ tableowner: string }>("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'");
      expect(owners).toEqual([{ tableowner: role }]);
      // The search indexes of migration 004 exist, with pg_trgm, in the role's database.
      const { rows: trgm } = await c.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'grants' AND indexname LIKE '%trgm%' ORDER BY indexname");
      expect(trgm.map((r) => r.indexname)).toEqual(['grants_agency_trgm_idx', 'grants_description_trgm_idx', 'grants_title_trgm_idx']);

      // What only a superuser may do stays out of reach.
      await expect(c.query('CREATE ROLE t_role_escalation SUPERUSER')).rejects.toThrow(/permission denied|must be superuser/);
      await expect(c.query(`COPY (SELECT 1) TO PROGRAM 'true'`)).rejects.toThrow(/permission denied|must be superuser|privileges/i);

      // A change made through this role is captured and published by a relay running as it.
      const nats = await PrivateNats.start();
      try {
        const relay = startService({ DATABASE_URL: url.toString(), NATS_URL: nats.url, ROLES: 'relay', RELAY_LEADER_POLL: '250ms' });
        try {
          await relay.waitFor(hasCode('RelayLeaderAcquired'), 60_000, 'relay leading');
          await c.query("INSERT INTO grants (source, external_id, title) VALUES ('role', 'r1', 'Written by the service role')");
          const [event] = await readStream(nats.url, 1, 30_000);
          expect(event?.event).toMatchObject({ op: 'insert', version: 1, grant: { title: 'Written by the service role' } });
        } finally {
          await relay.kill('SIGKILL');
        }
      } finally {
        await nats.stop();
      }
    } finally {
      await c.end();
    }
  }, 120_000);
});
