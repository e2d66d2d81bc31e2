/**
 * Error reporting. When SENTRY_DSN is set, Sentry is initialised with the release, the
 * environment and the roles this process runs. Unhandled errors and rejections are
 * handled here rather than by Sentry's default integrations, so that each is logged with
 * its code, reported, flushed, and then ends the process (crash-only: a supervisor or
 * a standby takes over, and state is rebuilt from Postgres and NATS).
 */
import * as Sentry from '@sentry/node';
import { ExitCode, LogCode } from '../domain/codes.js';
import type { Logger } from './log.js';

export interface ReportingOptions {
  dsn: string | undefined;
  release: string;
  environment: string;
  roles: readonly string[];
}

let enabled = false;

export function initReporting(options: ReportingOptions): void {
  if (!options.dsn) return;
  Sentry.init({
    dsn: options.dsn,
    release: options.release,
    environment: options.environment,
    tracesSampleRate: 0,
    sendDefaultPii: false,
    integrations: (defaults) => defaults.filter((i) => i.name !== 'OnUncaughtException' && i.name !== 'OnUnhandledRejection'),
  });
  Sentry.setTag('role', options.roles.join(','));
  enabled = true;
}

/** Reports an error that was handled but should be seen. */
export function reportError(err: unknown, context?: Record<string, unknown>): void {
  if (enabled) Sentry.captureException(err, context ? { extra: context } : undefined);
}

export async function flushReporting(timeoutMs: number): Promise<void> {
  if (enabled) await Sentry.flush(timeoutMs);
}

/**
 * Installs the last-resort handlers. `onFatal` runs after the error is logged and
 * reported; it is expected to shut the process down.
 */
/** How long a fatal error waits for its Sentry report to leave. */
const FATAL_FLUSH_MS = 2_000;

export function installCrashHandlers(log: Logger, onFatal: (code: ExitCode) => void): void {
  const fatal = (code: typeof LogCode.UncaughtException | typeof LogCode.UnhandledRejection) => (err: unknown) => {
    log.fatal({ code, err }, code === LogCode.UncaughtException ? 'uncaught exception' : 'unhandled promise rejection');
    if (enabled) Sentry.captureException(err, { tags: { handled: 'no', mechanism: code } });
    void flushReporting(FATAL_FLUSH_MS).finally(() => onFatal(ExitCode.Software));
  };
  process.on('uncaughtException', fatal(LogCode.UncaughtException));
  process.on('unhandledRejection', fatal(LogCode.UnhandledRejection));
}
