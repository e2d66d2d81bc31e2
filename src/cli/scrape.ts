/**
 * `npm run scrape -- --source NAME [--once]`: runs one source's scraper. With `--once` it
 * runs once and exits; without, it runs on a schedule until SIGTERM or SIGINT.
 * `--list` prints the known source names.
 *
 * Configured by its own environment (src/scrape/config.ts: NATS_URL and the source's NATS
 * credentials, SCRAPER_CONTACT, delays, SCRAPE_SOURCES_FILE). Logs are pino JSON on
 * stdout; a usage or configuration error is one line on stderr.
 *
 * Exit codes (domain/codes.ts `ExitCode`): 0 the run published (`ok` or `degraded`),
 * 64 bad arguments or unknown source, 69 NATS unreachable, 70 software error, 75 the run
 * ended `blocked` or `failing` (try again later), 78 bad configuration or sources file.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/env.js';
import { processRedactor } from '../config/redact.js';
import { ExitCode } from '../domain/codes.js';
import { createLogger } from '../observability/log.js';
import { loadScrapeConfig } from '../scrape/config.js';
import { NatsConnectError, Scraper } from '../scrape/scraper.js';
import { createSource, readSourcesFile, sourceDefinitions, SourcesFileError } from '../scrape/sources/registry.js';
import { CliError, registerSecrets, runCli } from './run.js';

const USAGE = 'usage: npm run scrape -- --source NAME [--once] | --list';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

async function main(argv: string[]): Promise<ExitCode> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { source: { type: 'string' }, once: { type: 'boolean', default: false }, list: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw new CliError(ExitCode.Usage, `${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.Ok;
  }

  let config;
  try {
    config = loadScrapeConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  // Values read from `VAR_FILE`s are known only now (runCli registered the environment).
  registerSecrets(config);
  let definitions;
  try {
    definitions = sourceDefinitions(config.SCRAPE_SOURCES_FILE ? readSourcesFile(config.SCRAPE_SOURCES_FILE) : []);
  } catch (err) {
    if (err instanceof SourcesFileError) throw new CliError(ExitCode.Config, `SCRAPE_SOURCES_FILE ${err.message}`);
    throw err;
  }
  if (values.list) {
    process.stdout.write(`${[...definitions.keys()].sort().join('\n')}\n`);
    return ExitCode.Ok;
  }
  if (values.source === undefined) throw new CliError(ExitCode.Usage, `--source is required; ${USAGE}`);
  const definition = definitions.get(values.source);
  if (!definition) throw new CliError(ExitCode.Usage, `unknown source ${JSON.stringify(values.source)}; known: ${[...definitions.keys()].sort().join(', ')}`);

  const log = createLogger({ level: config.LOG_LEVEL, release: `navimpact-live@${version()}`, scrub: processRedactor.scrub }).child({ role: 'scraper' });
  const scraper = new Scraper({ config, source: createSource(definition), version: version(), log });
  try {
    await scraper.start();
  } catch (err) {
    if (err instanceof NatsConnectError) throw new CliError(ExitCode.Unavailable, err.message);
    throw err;
  }
  try {
    if (values.once) {
      const summary = await scraper.runOnce();
      return summary.state === 'ok' || summary.state === 'degraded' ? ExitCode.Ok : ExitCode.TempFail;
    }
    const stop = new AbortController();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
    await scraper.runScheduled(stop.signal);
    return ExitCode.Ok;
  } finally {
    await scraper.close();
  }
}

runCli('navimpact scrape', () => main(process.argv.slice(2)));
