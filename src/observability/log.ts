/**
 * pino logging. Every warning or error carries a stable `code` from domain/codes.ts:
 * `log.error({ code: LogCode.X, err }, 'message')`. Secrets never reach a log line: token
 * and authorization fields are redacted wherever they appear, and `scrub` (the process's
 * credentials, config/redact.ts) runs over every finished line, so a password a library
 * put in an error message, a cause or a stack is removed too.
 *
 * `pretty`: lines for a person (pino-pretty, a development dependency) instead of JSON;
 * main.ts asks for it in development when stdout is a terminal. Where pino-pretty is not
 * installed (a production image) the lines stay JSON.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  release: string;
  /** Applied to each serialised line before it is written: removes the process's credentials. */
  scrub?: (line: string) => string;
  pretty?: boolean;
  /** Lines to stderr instead of stdout: a command whose stdout is its result (cli/restore.ts). */
  stderr?: boolean;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createLogger(options: LogOptions): Logger {
  const pretty = options.pretty === true && prettyAvailable();
  const destination = options.stderr && !pretty ? pino.destination(2) : undefined;
  return pino({
    level: options.level,
    base: { service: 'navimpact-live', release: options.release, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'password', '*.password', 'JWT_SECRET', '*.JWT_SECRET', 'JWT_PRIVATE_KEY', '*.JWT_PRIVATE_KEY'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
    ...(options.scrub && { hooks: { streamWrite: options.scrub } }),
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', singleLine: true, ignore: 'service,release,pid,hostname', messageKey: 'msg' } } }
      : {}),
  }, destination);
}
