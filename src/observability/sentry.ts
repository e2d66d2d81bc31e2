/**
 * Error reporting. When SENTRY_DSN is set, Sentry is initialised with the release, the
 * environment and the roles this process runs. Unhandled errors and rejections are
 * handled here rather than by Sentry's default integrations, so that each is logged with
 * its code, reported, flushed, and then ends the process (crash-only: a supervisor or
 * a standby takes over, and state is rebuilt from Postgres and NATS).
 *
 * # What else a person must see (issue 10 item 11)
 * Handled errors that need a person: a REST request that failed with 500, a failure of the
 * gateway's feed, and a server loop (relay, invalidator, ingest) still failing after
 * RETRY_REPORT_AFTER tries in a row. Each is reported with its log code as tag `code`
 * (next to `role` and the release). The same error (code and message) is sent at most once
 * per SENTRY_REPORT_INTERVAL, with the number of times it was held back since: a flood of
 * one failure is one event a minute, not a quota spent in seconds.
 */
import * as Sentry from '@sentry/node';
import { ExitCode, LogCode } from '../domain/codes.js';
import type { Logger } from './log.js';

export interface ReportingOptions {
  dsn: string | undefined;
  release: string;
  environment: string;
  roles: readonly string[];
  /** SENTRY_REPORT_INTERVAL: the same error is reported at most once per this. */
  intervalMs: number;
}

/** Tries in a row after which a retrying loop is reported (about 3 s of backoff from 100 ms). */
export const RETRY_REPORT_AFTER = 5;
/** Distinct errors remembered for the interval; the oldest is forgotten beyond. */
const MAX_REMEMBERED = 1_000;

let enabled = false;
let intervalMs = 60_000;
/** Per error key: when it was last sent, and how many times it was held back since. */
const sent = new Map<string, { at: number; held: number }>();

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
  intervalMs = options.intervalMs;
  sent.clear();
  enabled = true;
}

/**
 * Reports an error that was handled but should be seen, tagged with its log `code`; the
 * same code and message at most once per interval (the next report says how many were held).
 */
export function reportError(err: unknown, code: string, context?: Record<string, unknown>): void {
  if (!enabled) return;
  const key = `${code}\n${(err as Error)?.name ?? ''}\n${(err as Error)?.message ?? String(err)}`;
  const now = Date.now();
  const last = sent.get(key);
  if (last && now - last.at < intervalMs) {
    last.held++;
    return;
  }
  sent.delete(key);
  sent.set(key, { at: now, held: 0 });
  if (sent.size > MAX_REMEMBERED) sent.delete(sent.keys().next().value!);
  Sentry.captureException(err, { tags: { code }, extra: { ...context, ...(last?.held ? { heldBack: last.held } : {}) } });
}

/** Reports a loop's failure once it has failed `attempt` tries in a row, RETRY_REPORT_AFTER or more. */
export function reportRetrying(err: unknown, code: string, attempt: number, context?: Record<string, unknown>): void {
  if (attempt >= RETRY_REPORT_AFTER) reportError(err, code, { attempt, ...context });
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
