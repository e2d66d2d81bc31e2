/**
 * Orderly shutdown. Roles register a stop step as they start; on SIGTERM/SIGINT (or a
 * fatal error) the steps run in reverse order of registration — roles first, then the
 * connections they used — one at a time, each failure logged and skipped. A deadline
 * timer ends the process regardless; it is unref'd so it never keeps a finished process
 * alive.
 */
import { ExitCode, LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';

export class Shutdown {
  private readonly steps: { name: string; run: () => Promise<unknown> | unknown }[] = [];
  private started: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly deadlineMs: number,
    private readonly exit: (code: ExitCode) => void = (code) => process.exit(code),
  ) {}

  /** Registers a step; steps run last-registered first. */
  add(name: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ name, run });
  }

  /** Runs the steps once and exits with `code` (or 1 past the deadline). */
  run(code: ExitCode, reason: string): Promise<void> {
    this.started ??= this.execute(code, reason);
    return this.started;
  }

  listen(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
    for (const signal of signals) process.once(signal, () => void this.run(ExitCode.Ok, signal));
  }

  private async execute(code: ExitCode, reason: string): Promise<void> {
    this.log.info({ code: LogCode.ShutdownStarted, reason }, 'shutting down');
    const deadline = setTimeout(() => {
      this.log.error({ code: LogCode.ShutdownTimeout, deadlineMs: this.deadlineMs }, 'shutdown deadline passed; exiting');
      this.exit(code === ExitCode.Ok ? ExitCode.ShutdownDeadline : code);
    }, this.deadlineMs);
    deadline.unref();
    for (const step of [...this.steps].reverse()) {
      try {
        await step.run();
      } catch (err) {
        this.log.warn({ code: LogCode.ShutdownStepFailed, step: step.name, err }, 'shutdown step failed');
      }
    }
    clearTimeout(deadline);
    this.exit(code);
  }
}
