import pg from 'pg';
import type { Logger } from '../observability/log.js';
import { describeDatabase } from './pool.js';

export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError';
}

/**
 * Checks that the database answers, creating it when the server is reachable but the
 * database does not exist yet (a fresh machine's first start). Errors name DATABASE_URL
 * and the server, never the password.
 */
export async function ensureDatabase(url: string, log: Logger): Promise<void> {
  try {
    await probe(url);
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw unreachable(url, err);
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by another process
    });
    log.info({ database: name }, 'database created');
  } catch (err) {
    throw unreachable(url, err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

function unreachable(url: string, err: unknown): DatabaseUnreachableError {
  const reason = (err as Error).message || (err as { code?: string }).code || String(err);
  return new DatabaseUnreachableError(`DATABASE_URL: cannot use the database at ${describeDatabase(url)}: ${reason}`, { cause: err });
}
