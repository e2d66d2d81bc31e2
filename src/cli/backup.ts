/**
 * `npm run backup -- FILE` (CONTRACT v1.1 section 1): a consistent backup of the database
 * named by DATABASE_URL, written to FILE (dump.ts describes the format).
 *
 * # Consistency
 * One REPEATABLE READ transaction exports its snapshot; pg_dump dumps exactly that snapshot
 * (`--snapshot`) and the manifest is read in it too, so the schema version, the relay's
 * recorded position and the rows all describe the same instant. Stream GRANTS's last
 * sequence is read from NATS when it answers (best effort: a backup must not need NATS);
 * it can only be higher than the snapshot's position, so the manifest's `highestSeq` is
 * never below what the backup holds. The file is written beside FILE and renamed into place
 * when complete: FILE is never half a backup.
 *
 * Exit 0 and one line on stdout (the manifest); 64 for bad arguments, 69 when Postgres
 * cannot be reached or pg_dump is missing, 70 when pg_dump fails.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/load.js';
import { EnvSchema } from '../config/schema.js';
import { ExitCode } from '../domain/codes.js';
import { MANIFEST_FORMAT, finished, pgEnv, pgTool, recordedSeq, streamLastSeq, tryNats, type Manifest } from './dump.js';
import { CliError, runCli } from './run.js';

const USAGE = 'usage: npm run backup -- FILE';

async function main(): Promise<ExitCode> {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, strict: true, options: {} }));
  } catch (err) {
    throw new CliError(ExitCode.Usage, `${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  if (positionals.length !== 1) throw new CliError(ExitCode.Usage, USAGE);
  const file = positionals[0]!;
  let config;
  try {
    config = loadConfig(undefined, EnvSchema);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  const url = config.DATABASE_URL;
  const client = new pg.Client({ connectionString: url, application_name: 'navimpact-backup' });
  try {
    await client.connect();
  } catch (err) {
    throw new CliError(ExitCode.Unavailable, `DATABASE_URL: cannot connect: ${(err as Error).message}`);
  }
  const nc = await tryNats(config.NATS_URL);
  const partial = `${file}.partial`;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const { rows } = await client.query<{ version: number | null; grants: string }>(
      `SELECT (SELECT max(version) FROM schema_migrations) AS version, (SELECT count(*) FROM grants)::text AS grants`,
    );
    const relayStreamSeq = (await recordedSeq(client)) ?? 0;
    const lastSeq = await streamLastSeq(nc);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      createdAt: new Date().toISOString(),
      database: pgEnv(url).dbname,
      schemaVersion: rows[0]?.version ?? 0,
      highestSeq: Math.max(relayStreamSeq, lastSeq ?? 0),
      relayStreamSeq,
      streamLastSeq: lastSeq,
      grants: Number(rows[0]?.grants ?? 0),
    };
    const out = createWriteStream(partial, { mode: 0o600 });
    out.write(`${JSON.stringify(manifest)}\n`);
    const dump = pgTool('pg_dump', ['--format=custom', `--snapshot=${snapshot}`, '--no-owner', '--no-privileges', pgEnv(url).dbname], url);
    dump.stdout!.pipe(out);
    await finished(dump, 'pg_dump');
    if (!out.writableFinished) await once(out, 'finish');
    await client.query('COMMIT');
    await rename(partial, file);
    process.stdout.write(`${JSON.stringify(manifest)}\n`);
    return ExitCode.Ok;
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof CliError) throw err;
    throw new CliError(ExitCode.Software, `backup failed: ${(err as Error).message}`);
  } finally {
    await nc?.close().catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

runCli('backup', main);
