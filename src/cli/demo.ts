/**
 * `npm run demo [-- --grants 300 --rate 3 --once]`: demo data through the real path
 * (docs/web.md, "A first run"). It publishes a few hundred realistic grant records on
 * `scrape.grants.demo` exactly as a scraper does (JetStream, `Nats-Msg-Id`, the printed
 * text ingest normalises) and the source's status on `scrape.status.demo`, then a few
 * changes a second until SIGINT/SIGTERM (`--once`: the catalogue only). Ingest, the relay
 * and the gateway carry them to the board; nothing is written to Postgres directly.
 *
 * Needs a running service with the ingest role (`bash scripts/dev.sh` in another terminal,
 * which creates stream SCRAPE). Configured by NATS_URL only.
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { z } from 'zod';
import { ConfigError, parseEnv } from '../config/env.js';
import { ExitCode, LogCode } from '../domain/codes.js';
import { createLogger } from '../observability/log.js';
import { systemClock } from '../scrape/clock.js';
import { RecordPublisher, StatusReporter } from '../scrape/publisher.js';
import type { ScrapedRecord } from '../scrape/sources/types.js';
import { demoChange, demoGrant, seeded } from './demo-data.js';
import { CliError, runCli } from './run.js';

const USAGE = 'usage: npm run demo -- [--grants N] [--rate PER_SECOND] [--seed N] [--once]';
const SOURCE = 'demo';

/** The demo's one configuration schema: where NATS is. */
const DemoEnvSchema = z.object({ NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222') });

async function main(argv: string[]): Promise<ExitCode> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { grants: { type: 'string', default: '300' }, rate: { type: 'string', default: '3' }, seed: { type: 'string', default: '1' }, once: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw new CliError(ExitCode.Usage, `${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.Ok;
  }
  const grants = Number(values.grants);
  const rate = Number(values.rate);
  if (!Number.isInteger(grants) || grants < 1 || grants > 100_000) throw new CliError(ExitCode.Usage, `--grants must be a whole number from 1 to 100000; ${USAGE}`);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 1_000) throw new CliError(ExitCode.Usage, `--rate must be a number above 0 and at most 1000; ${USAGE}`);
  let env;
  try {
    env = parseEnv(DemoEnvSchema, new Set(['NATS_URL']), process.env, new Set(['NATS_URL']));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  const log = createLogger({ level: 'info', release: 'demo' });
  let nc;
  try {
    nc = await connect({ servers: env.NATS_URL.split(','), name: 'navimpact-demo' });
  } catch (err) {
    throw new CliError(ExitCode.Unavailable, `NATS unreachable at NATS_URL: ${(err as Error).message}`);
  }
  const publisher = new RecordPublisher(nc, SOURCE, 10_000);
  const status = new StatusReporter(nc, SOURCE, systemClock, log);
  const random = seeded(Number(values.seed) || 1);
  const records: ScrapedRecord[] = Array.from({ length: grants }, (_, i) => demoGrant(random, i));
  for (const record of records) await publisher.publish(record);
  status.set('ok', `demo: ${grants} grants`);
  status.start(30_000);
  log.info({ code: LogCode.DemoPublished, grants, source: SOURCE }, `published ${grants} demo grants on scrape.grants.${SOURCE}`);
  if (values.once) {
    status.stop();
    await nc.drain();
    return ExitCode.Ok;
  }
  log.info({ code: LogCode.DemoChanging, rate }, `changing ${rate} grants a second; Ctrl-C stops`);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  while (!stop.signal.aborted) {
    const i = Math.floor(random() * records.length);
    records[i] = demoChange(random, records[i]!);
    await publisher.publish(records[i]!);
    await new Promise((resolve) => setTimeout(resolve, 1_000 / rate));
  }
  status.stop();
  await nc.drain();
  return ExitCode.Ok;
}

runCli('demo', () => main(process.argv.slice(2)));
