/**
 * What `npm run backup` and `npm run restore` share: the backup file's format, the
 * PostgreSQL client programs (Debian's postgresql-client: pg_dump, pg_restore, psql), and
 * the records of the highest `seq` ever issued.
 *
 * # The file
 * Line 1 is the manifest, one JSON object and a newline; the rest is `pg_dump
 * --format=custom` output. `tail -n +2 FILE > db.dump` gives a file pg_restore reads as it
 * is (docs/operations.md).
 *
 * # Where the highest `seq` is remembered
 * In three places that fail independently: Postgres (`relay_state.stream_seq`, recorded by
 * the relay with every batch), NATS (stream GRANTS's last sequence, kept through the purge
 * that moves it forward), Redis (the cache's watermark, at most the last `seq`). A backup's
 * manifest adds a fourth, and Prometheus a fifth (`navimpact_relay_stream_seq`, which an
 * operator can pass as `--seq-floor`). A restore takes the highest of those it can reach.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { z } from 'zod';
import { cacheKeys } from '../cache/keys.js';
import { ExitCode } from '../domain/codes.js';
import { Streams } from '../domain/events.js';
import { CliError } from './run.js';

export const MANIFEST_FORMAT = 'navimpact-backup/1';

export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  createdAt: z.string().datetime(),
  /** The database's name (never its address or credentials). */
  database: z.string(),
  /** Highest migration applied (schema_migrations). */
  schemaVersion: z.number().int().nonnegative(),
  /** Highest `seq` known to be issued when the backup was taken: max of the two below. */
  highestSeq: z.number().int().nonnegative(),
  /** `relay_state.stream_seq` in the backup's snapshot. */
  relayStreamSeq: z.number().int().nonnegative(),
  /** Stream GRANTS's last sequence at backup time; null when NATS could not be reached. */
  streamLastSeq: z.number().int().nonnegative().nullable(),
  grants: z.number().int().nonnegative(),
});
export type Manifest = z.infer<typeof Manifest>;

/** How long a best-effort look at NATS or Redis may take. */
const PROBE_MS = 3_000;

/**
 * libpq's environment for `url` (PGHOST, PGPORT, PGUSER, PGDATABASE): the password travels in
 * PGPASSWORD, never on a command line. Every program gets the database from here, so none
 * falls back to libpq's default (a database named after the user).
 */
export function pgEnv(url: string): { env: NodeJS.ProcessEnv; dbname: string } {
  const u = new URL(url);
  const dbname = decodeURIComponent(u.pathname.slice(1));
  const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username) || process.env.USER || 'postgres', PGDATABASE: dbname };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return { env, dbname };
}

/** Starts a PostgreSQL client program; a missing one is a clear error. */
export function pgTool(program: 'pg_dump' | 'pg_restore' | 'psql', args: string[], url: string): ChildProcess {
  const { env } = pgEnv(url);
  const child = spawn(program, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  return child;
}

/** A PostgreSQL client program that failed; `stderr` is all it wrote there. */
export class ToolError extends CliError {
  constructor(message: string, readonly stderr: string) {
    super(ExitCode.Software, message);
  }
}

/** The lines of a PostgreSQL program's stderr that say why it failed: ERROR, DETAIL and HINT (psql prefixes them with the script's position), else the last three. */
export function why(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const said = lines.filter((l) => /^(?:psql:\S*: )?(?:ERROR|FATAL|DETAIL|HINT):/.test(l));
  return (said.length > 0 ? said : lines.slice(-3)).join(' | ');
}

/**
 * A psql stopped by Postgres's lock_not_available (55P03: `lock_timeout` expired), which
 * psql's verbose errors (`-v VERBOSITY=verbose`) print after ERROR. Only an ERROR line
 * counts: a CONTEXT line can quote the data being loaded.
 */
export function isLockTimeout(err: unknown): boolean {
  return err instanceof ToolError && /^(?:psql:\S*: )?ERROR:\s+55P03:/m.test(err.stderr);
}

/** Resolves when `child` exits 0 (once its output has ended); otherwise a ToolError with its stderr. */
export async function finished(child: ChildProcess, program: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const [code, err] = await Promise.race([once(child, 'close').then(([c]) => [c as number | null, undefined] as const), once(child, 'error').then(([e]) => [null, e as Error] as const)]);
  if (err) throw new CliError(ExitCode.Unavailable, `${program} could not be started (${err.message}): install postgresql-client`);
  if (code !== 0) throw new ToolError(`${program} failed (exit ${code}): ${why(stderr)}`, stderr);
}

async function withDeadline<T>(work: Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), PROBE_MS)));
  try {
    return await Promise.race([work.catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens NATS for a best-effort step; null when it cannot be reached in time. */
export async function tryNats(url: string): Promise<NatsConnection | null> {
  return withDeadline(connect({ servers: url.split(',').map((s) => s.trim()), timeout: PROBE_MS, maxReconnectAttempts: 0, name: 'navimpact-backup' }));
}

/** Stream GRANTS's last sequence, or null when NATS or the stream is not there. */
export async function streamLastSeq(nc: NatsConnection | null): Promise<number | null> {
  if (!nc) return null;
  return withDeadline((async () => (await (await nc.jetstreamManager()).streams.info(Streams.grants)).state.last_seq)());
}

/** The cache's watermark in Redis, or null when Redis or the key is not there. */
export async function cacheWatermark(url: string, prefix: string): Promise<number | null> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: PROBE_MS, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    const value = await withDeadline((async () => {
      await redis.connect();
      return redis.get(cacheKeys(prefix).watermark);
    })());
    return value === null || value === undefined ? null : Number(value);
  } finally {
    redis.disconnect();
  }
}

/** `relay_state.stream_seq` of the database, or null when it has no such table yet. */
export async function recordedSeq(client: pg.ClientBase): Promise<number | null> {
  const { rows: exists } = await client.query<{ t: string | null }>(`SELECT to_regclass('public.relay_state')::text AS t`);
  if (!exists[0]?.t) return null;
  const { rows } = await client.query<{ seq: string | null }>('SELECT max(stream_seq)::text AS seq FROM public.relay_state');
  return rows[0]?.seq == null ? null : Number(rows[0].seq);
}
