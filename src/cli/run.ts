/**
 * What the service's commands share (`npm start`/`migrate`, `npm run token`, `npm run
 * scrape`): an error is one line on stderr naming the program, and the process ends with
 * an exit code of the vocabulary (domain/codes.ts `ExitCode`). Whatever a command writes
 * to stderr here is scrubbed of the credentials of its environment (config/redact.ts).
 */
import { processRedactor } from '../config/redact.js';
import { SECRET_KEYS } from '../config/schema.js';
import { ExitCode } from '../domain/codes.js';
import { SCRAPE_SECRET_KEYS } from '../scrape/config.js';

/** An error a command reports as one line and an exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Registers the credentials of `env` (every URL-valued variable, and the secrets of the
 * service's and the scrapers' schemas) with the process's redactor. `runCli` does it for
 * the process environment before the command starts; a program that reads values from
 * files (`VAR_FILE`) registers its parsed configuration too.
 */
export function registerSecrets(env: Readonly<Record<string, unknown>> = process.env): void {
  processRedactor.addSettings(env, [...SECRET_KEYS, ...SCRAPE_SECRET_KEYS]);
}

function report(program: string, message: string): void {
  process.stderr.write(processRedactor.scrub(`${program}: ${message.replace(/\s*\n\s*/g, ' ')}\n`));
}

/** Ends the process at once: one line on stderr, then `code`. */
export function fail(program: string, code: ExitCode, message: string): never {
  report(program, message);
  process.exit(code);
}

/**
 * Runs a command to its end and sets the exit code it returns; a CliError becomes its line
 * and its code, anything else a line and ExitCode.Software. The process then ends by itself
 * once nothing is pending (stdout is flushed, unlike with `process.exit`).
 */
export function runCli(program: string, main: () => Promise<ExitCode>): void {
  registerSecrets();
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      report(program, err instanceof Error ? err.message : String(err));
      process.exitCode = err instanceof CliError ? err.exitCode : ExitCode.Software;
    },
  );
}
