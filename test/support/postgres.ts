/**
 * Databases for tests. `createTestDatabase` makes a uniquely named database on the shared
 * server (tests run in parallel without touching each other). `PrivatePostgres` runs a
 * server of its own on a free port, for tests that stop or restart it; initdb and pg_ctl
 * refuse root, so they run as the `postgres` user on a folder it owns.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { testLog } from './log.js';
import { freePort } from './ports.js';

export const SHARED_PG = process.env.TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(serverUrl = SHARED_PG): Promise<TestDatabase> {
  const name = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * The databases and clients a test file opens; `close` ends the clients and drops the
 * databases (the file's `afterAll`).
 */
export function testDatabases(): {
  database(): Promise<TestDatabase>;
  client(url: string): Promise<pg.Client>;
  migrated(): Promise<pg.Client>;
  close(): Promise<void>;
} {
  const databases: TestDatabase[] = [];
  const clients: pg.Client[] = [];
  const opened = {
    async database() {
      const db = await createTestDatabase();
      databases.push(db);
      return db;
    },
    async client(url: string) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      clients.push(c);
      return c;
    },
    /** A fresh database with every migration applied, and a client on it. */
    async migrated() {
      const c = await opened.client((await opened.database()).url);
      await migrate(c, testLog);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await Promise.all(databases.map((d) => d.drop()));
    },
  };
  return opened;
}

/** The newest installed server's binaries (15 on Debian 12, 16 on Ubuntu 24.04). */
const BIN = (() => {
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return `/usr/lib/postgresql/${versions[0] ?? '15'}/bin`;
})();

export class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'navimpact-pg-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivatePostgres> {
    const server = new PrivatePostgres(await freePort());
    chmodSync(server.dir, 0o755);
    chownSync(server.dir, uid('postgres'), gid('postgres'));
    asPostgres(`${BIN}/initdb`, ['-D', server.data, '-A', 'trust', '-U', 'root', '--no-sync', '-E', 'UTF8']);
    await server.up();
    return server;
  }

  get data(): string {
    return join(this.dir, 'data');
  }

  url(database = 'postgres'): string {
    return `postgres://root@127.0.0.1:${this.port}/${database}`;
  }

  async up(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    asPostgres(`${BIN}/pg_ctl`, ['-D', this.data, '-l', join(this.dir, 'log'), '-o', opts, '-w', 'start']);
  }

  /** Stops the server; `immediate` drops connections the hard way, like a crash. */
  async down(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    asPostgres(`${BIN}/pg_ctl`, ['-D', this.data, '-m', mode, '-w', 'stop']);
  }

  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.down(mode);
    await this.up();
  }

  async stop(): Promise<void> {
    try {
      await this.down('immediate');
    } catch {
      /* already stopped */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function asPostgres(cmd: string, args: string[]): void {
  execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}
