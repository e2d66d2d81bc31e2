/**
 * `npm run restore -- FILE [--force] [--seq-floor N] [--lock-wait SECONDS]` (CONTRACT v1.1 section 1): restores a
 * backup of `npm run backup` into the database named by DATABASE_URL, which must be empty
 * unless `--force` is given. `npm run restore -- --renumber [--seq-floor N]` does only the
 * last steps, for a database brought back another way (point-in-time recovery from WAL).
 *
 * # Under a running system (docs/operations.md)
 * 1. The relay's publishing lock is taken (a leading relay's session is ended first), so
 *    no relay publishes until the restore is over.
 * 2. The highest `seq` ever issued is read from every record that answers (dump.ts): the
 *    database before the restore, stream GRANTS, the cache's watermark, the manifest,
 *    `--seq-floor`.
 * 3. In ONE transaction: the public schema is dropped and recreated, the dump replayed
 *    (psql reading pg_restore's SQL), the migrations an older backup lacks applied, and
 *    `relay_state` given a new epoch and the position highest + SEQUENCE_GAP. Readers see
 *    the old database or the restored one at this release's schema, never a mix. The
 *    transaction waits at most 1 s for a lock (readers queue behind that wait); one that
 *    does not get its locks is tried again until `--lock-wait` (60 s) has passed.
 * 4. Stream GRANTS is moved forward to that position when NATS answers (else the relay
 *    does it when it leads). Every position clients, the invalidator or REST pages know is
 *    then outside the stream: clients resuming get `recovered:false`, gateways close their
 *    clients with 1001 and empty their in-process cache, the invalidator empties Redis.
 * 5. The lock is released; a relay leads again and publishes above the new position.
 *
 * Exit 0 and one line on stdout; 64 bad arguments or a non-empty database without
 * `--force`; 65 a file that is not a backup, or of a newer schema; 69 Postgres or the
 * PostgreSQL client programs unavailable; 70 a failed restore (nothing changed: one
 * transaction); 75 the relay's lock or the tables' locks not taken in time (nothing
 * changed). Log lines go to stderr.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureGrantsStream } from '../bus/streams.js';
import { RENUMBER_SQL } from '../capture/changelog.js';
import { SEQUENCE_GAP } from '../capture/leader.js';
import { advanceStream } from '../capture/publisher.js';
import { RELAY_LOCK } from '../capture/relay.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { processRedactor } from '../config/redact.js';
import { EnvSchema } from '../config/schema.js';
import { ensureDatabase } from '../db/database.js';
import { MIGRATION_LOCK_TIMEOUT_MS, MIGRATION_RETRY, MIGRATIONS, migrationScript } from '../db/migrate.js';
import { ExitCode, LogCode } from '../domain/codes.js';
import { retry } from '../lifecycle/retry.js';
import { createLogger, type Logger } from '../observability/log.js';
import { Manifest, cacheWatermark, finished, isLockTimeout, pgTool, recordedSeq, streamLastSeq, tryNats } from './dump.js';
import { CliError, runCli } from './run.js';

const USAGE = 'usage: npm run restore -- FILE [--force] [--seq-floor N] [--lock-wait SECONDS] | npm run restore -- --renumber [--seq-floor N]';
/** How long the restore tries to take the relay's lock from leading and standby relays. */
const LOCK_WAIT_MS = 15_000;
/** How long the replay keeps trying to take the database's locks (`--lock-wait`), by default. */
const REPLAY_LOCK_WAIT_S = 60;
/** The most bytes the manifest line may have. */
const MANIFEST_MAX = 64 * 1024;

interface Args {
  file: string | undefined;
  force: boolean;
  seqFloor: number;
  /** Milliseconds the replay keeps trying to take its locks (`--lock-wait`). */
  lockWaitMs: number;
}

function parse(argv: string[]): Args {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { force: { type: 'boolean', default: false }, renumber: { type: 'boolean', default: false }, 'seq-floor': { type: 'string' }, 'lock-wait': { type: 'string' } },
    }));
  } catch (err) {
    throw new CliError(ExitCode.Usage, `${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  const floor = values['seq-floor'];
  if (floor !== undefined && !/^\d{1,15}$/.test(floor)) throw new CliError(ExitCode.Usage, `--seq-floor must be a whole number; ${USAGE}`);
  const wait = values['lock-wait'];
  if (wait !== undefined && !(/^\d{1,6}$/.test(wait) && Number(wait) > 0)) throw new CliError(ExitCode.Usage, `--lock-wait must be a whole number of seconds above 0; ${USAGE}`);
  if (values.renumber ? positionals.length !== 0 : positionals.length !== 1) throw new CliError(ExitCode.Usage, USAGE);
  return { file: positionals[0], force: values.force, seqFloor: Number(floor ?? 0), lockWaitMs: Number(wait ?? REPLAY_LOCK_WAIT_S) * 1_000 };
}

/** The manifest line and the byte offset where the dump starts. */
async function readManifest(file: string): Promise<{ manifest: Manifest; offset: number }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new CliError(ExitCode.Usage, `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(MANIFEST_MAX);
    const { bytesRead } = await handle.read(buffer, 0, MANIFEST_MAX, 0);
    const end = buffer.subarray(0, bytesRead).indexOf(0x0a);
    let parsed;
    try {
      parsed = end > 0 ? Manifest.safeParse(JSON.parse(buffer.subarray(0, end).toString('utf8'))) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) throw new CliError(ExitCode.DataError, `${file} is not a backup of npm run backup (no valid manifest line)`);
    return { manifest: parsed.data, offset: end + 1 };
  } finally {
    await handle.close();
  }
}

/** Ends the sessions holding the relay's lock and takes it; the lock lives as long as `client`. */
async function takeRelayLock(client: pg.Client): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND pid <> pg_backend_pid()`,
      [...RELAY_LOCK],
    );
    if ((await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [...RELAY_LOCK])).rows[0]?.got) return;
    if (Date.now() > deadline) throw new CliError(ExitCode.TempFail, `could not take the relay's lock within ${LOCK_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function isEmpty(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`,
  );
  return rows[0]!.n === 0;
}

/** A dump to replay, and the SQL to run before and after it in the same transaction. */
interface Replay {
  url: string;
  file: string;
  /** Where the dump starts in `file`. */
  offset: number;
  before: string;
  after: string;
}

/**
 * Replays the dump after `offset` of `file`, with `before` and `after`, in one transaction
 * that waits at most `lockTimeoutMs` for a lock (its first statements drop the schema: every
 * reader of the service queues behind that wait, so it is bounded as a migration's is,
 * db/migrate.ts). A lock not given in time fails the replay with psql's 55P03
 * (`isLockTimeout`), nothing changed.
 */
async function replay({ url, file, offset, before, after }: Replay, lockTimeoutMs: number): Promise<void> {
  const psql = pgTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '--single-transaction', '-f', '-'], url);
  const restore = pgTool('pg_restore', ['--no-owner', '--no-privileges', '-f', '-'], url);
  // Either program may end first; its exit says why, not a broken pipe to it.
  psql.stdin!.on('error', () => undefined);
  restore.stdin!.on('error', () => undefined);
  // The first to fail says why: psql (the database refused), or pg_restore (a bad file).
  // Each stops the other: a pg_restore whose reader is gone blocks on its pipe.
  let first: 'psql' | 'pg_restore' | undefined;
  const psqlDone = finished(psql, 'psql').catch((err: unknown) => {
    first ??= 'psql';
    restore.kill('SIGTERM');
    throw err;
  });
  createReadStream(file, { start: offset }).pipe(restore.stdin!);
  psql.stdin!.write(`SET LOCAL lock_timeout = '${lockTimeoutMs}ms';\n${before}`);
  // `after` goes in once pg_restore has closed, its output read to the end (`finished`
  // waits for that); a pg_restore that fails stops psql before it commits.
  restore.stdout!.pipe(psql.stdin!, { end: false });
  const fed = finished(restore, 'pg_restore').then(
    () => void psql.stdin!.end(after),
    (err: unknown) => {
      first ??= 'pg_restore';
      psql.kill('SIGTERM');
      throw err;
    },
  );
  const [db, input] = await Promise.allSettled([psqlDone, fed]);
  if (db.status === 'rejected' && first === 'psql') throw db.reason;
  if (input.status === 'rejected') throw input.reason;
}

/**
 * `replay`, tried again while it does not get its locks (a transaction holds one of the
 * tables) until `waitMs` has passed, then exit 75 with nothing changed. Attempts are spaced
 * as a migration's are (one lock timeout plus backoff, so the tables are free at least half
 * the time between them), a wait past `waitMs` cut short. Each retry is logged
 * (RestoreLockWait, on stderr).
 */
async function replayWhenFree(job: Replay, waitMs: number, log: Logger): Promise<void> {
  const started = Date.now();
  let attempts = 0;
  try {
    await retry(() => (attempts++, replay(job, MIGRATION_LOCK_TIMEOUT_MS)), {
      ...MIGRATION_RETRY,
      addMs: MIGRATION_LOCK_TIMEOUT_MS,
      retryOn: isLockTimeout,
      signal: AbortSignal.timeout(waitMs),
      onRetry: (_err, attempt, retryInMs) =>
        log.warn({ code: LogCode.RestoreLockWait, attempt, lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS, retryInMs }, 'the restore waited too long for a lock another transaction holds; nothing changed, trying again'),
    });
  } catch (err) {
    if (!isLockTimeout(err)) throw err;
    const waited = Math.round((Date.now() - started) / 1_000);
    throw new CliError(ExitCode.TempFail, `another transaction held the database's tables through ${attempts} attempts over ${waited} s (--lock-wait ${waitMs / 1_000}): nothing was restored`);
  }
}

async function main(): Promise<ExitCode> {
  const args = parse(process.argv.slice(2));
  let config;
  try {
    config = loadConfig(undefined, EnvSchema);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  // Logs go to stderr: stdout is the one line of the result.
  const log = createLogger({ level: 'warn', release: 'restore', scrub: processRedactor.scrub, stderr: true });
  const found = args.file ? await readManifest(args.file) : undefined;
  const latest = Math.max(...MIGRATIONS.map((m) => m.version));
  if (found && found.manifest.schemaVersion > latest) {
    throw new CliError(ExitCode.DataError, `the backup has schema version ${found.manifest.schemaVersion}, newer than this release's ${latest}: restore it with that release`);
  }
  const url = config.DATABASE_URL;
  try {
    await ensureDatabase(url, log);
  } catch (err) {
    throw new CliError(ExitCode.Unavailable, (err as Error).message);
  }
  const started = Date.now();
  const client = new pg.Client({ connectionString: url, application_name: 'navimpact-restore' });
  await client.connect();
  const nc = await tryNats(config.NATS_URL);
  try {
    if (args.file && !args.force && !(await isEmpty(client))) {
      throw new CliError(ExitCode.Usage, `the database ${client.database} is not empty: pass --force to replace it`);
    }
    await takeRelayLock(client);
    const records = {
      database: await recordedSeq(client),
      stream: await streamLastSeq(nc),
      cache: await cacheWatermark(config.REDIS_URL, config.CACHE_PREFIX),
      manifest: found?.manifest.highestSeq ?? null,
      floor: args.seqFloor,
    };
    const position = Math.max(0, ...Object.values(records).map((v) => v ?? 0)) + SEQUENCE_GAP;
    const renumber = `${RENUMBER_SQL.replace('$1', String(position))};\n`;
    if (args.file && found) {
      // The backup brought to this release's schema in the replay's transaction (a reader
      // never sees the restored data at an older schema), then renumbered.
      const after = `${migrationScript(found.manifest.schemaVersion, MIGRATION_LOCK_TIMEOUT_MS)}${renumber}`;
      await replayWhenFree({ url, file: args.file, offset: found.offset, before: 'DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n', after }, args.lockWaitMs, log);
    } else {
      if ((await recordedSeq(client)) === null) throw new CliError(ExitCode.Usage, `the database ${client.database} has no relay_state: nothing to renumber`);
      await client.query(RENUMBER_SQL, [position]);
    }
    let stream = 'moved forward';
    if (nc) {
      try {
        const jsm = await nc.jetstreamManager();
        await ensureGrantsStream(jsm, { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, log);
        if ((await jsm.streams.info('GRANTS')).state.last_seq < position) await advanceStream(jsm, position);
      } catch (err) {
        stream = `not moved (${(err as Error).message}): the relay moves it when it leads`;
      }
    } else {
      stream = 'not moved (NATS unreachable): the relay moves it when it leads';
    }
    process.stdout.write(
      `${JSON.stringify({ restored: args.file ?? null, manifest: found?.manifest ?? null, seqRecords: records, seqContinuesAfter: position, stream, seconds: (Date.now() - started) / 1_000 })}\n`,
    );
    return ExitCode.Ok;
  } finally {
    await nc?.close().catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

runCli('restore', main);
