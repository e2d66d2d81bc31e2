/** A fresh database per bench run on the shared Postgres server, migrated by the service itself. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ROOT } from './processes.js';

export class BenchDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly serverUrl: string,
  ) {}

  /**
   * Creates `<prefix>_<12 hex>` on the server at `serverUrl`, as a copy of `template` when
   * given (a database nobody is connected to: Postgres copies it file by file).
   */
  static async create(serverUrl: string, prefix: string, template?: BenchDatabase): Promise<BenchDatabase> {
    const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await sql(serverUrl, `CREATE DATABASE ${name}${template ? ` TEMPLATE ${template.name}` : ''}`);
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    return new BenchDatabase(name, u.toString(), serverUrl);
  }

  async drop(): Promise<void> {
    await sql(this.serverUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

export async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Runs the service's migrations (`src/main.ts migrate`) against `url`. */
export function migrate(url: string): void {
  execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' }, stdio: 'ignore' });
}
