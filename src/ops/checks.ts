/**
 * The health checks of one process (CONTRACT v1.1 sections 1 and 6): each role adds the
 * checks of what it needs, and `/health` runs them all at once, each within its own
 * deadline, so a hung dependency makes its check fail rather than the probe hang.
 *
 * # Status
 * A check is `ok`, `degraded` (the process still does its job, worse) or `down`. The answer
 * is 503 only when a check marked `critical` is down: Postgres or NATS, without which the
 * process's roles cannot work (an orchestrator may restart it). Any other check not `ok`
 * makes the status `degraded`, still 200.
 *
 * # Who sees what
 * Without a monitor or admin token each check shows only its status; the details (error
 * text, addresses, lag, scraper states) are for monitor and admin tokens (section 6).
 */

export type CheckStatus = 'ok' | 'degraded' | 'down';

/** One check's result: its status and, for monitors, details. */
export interface CheckResult {
  status: CheckStatus;
  [detail: string]: unknown;
}

export interface HealthCheck {
  /** Down means the process cannot do its job: `/health` answers 503. */
  critical: boolean;
  run(): Promise<CheckResult>;
}

export interface HealthReport {
  /** True when a critical check is down (503). */
  unavailable: boolean;
  status: 'ok' | 'degraded';
  checks: Record<string, CheckResult>;
}

/** Deadline of one check. */
export const CHECK_TIMEOUT_MS = 1_000;

export class HealthChecks {
  private readonly checks = new Map<string, HealthCheck>();
  private inFlight: Promise<HealthReport> | undefined;

  /** Adds check `name`; a name is added once (a second `add` of it is a bug). */
  add(name: string, check: HealthCheck): void {
    if (this.checks.has(name)) throw new Error(`health check "${name}" added twice`);
    this.checks.set(name, check);
  }

  has(name: string): boolean {
    return this.checks.has(name);
  }

  get names(): string[] {
    return [...this.checks.keys()];
  }

  /**
   * Runs every check at once, each within CHECK_TIMEOUT_MS. Callers that arrive while a run
   * is in flight share it: probes hammering `/health` (it has no rate limit) cost the
   * dependencies one run at a time, and never queue behind one another.
   */
  run(): Promise<HealthReport> {
    this.inFlight ??= this.runAll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async runAll(): Promise<HealthReport> {
    const entries = [...this.checks];
    const results = await Promise.all(entries.map(([, check]) => timed(check)));
    const checks: Record<string, CheckResult> = {};
    let unavailable = false;
    let degraded = false;
    entries.forEach(([name, check], i) => {
      const result = results[i]!;
      checks[name] = result;
      if (result.status === 'down' && check.critical) unavailable = true;
      if (result.status !== 'ok') degraded = true;
    });
    return { unavailable, status: degraded ? 'degraded' : 'ok', checks };
  }
}

/** The report as anyone may see it: each check's status only. */
export function statusOnly(report: HealthReport): HealthReport {
  const checks: Record<string, CheckResult> = {};
  for (const [name, result] of Object.entries(report.checks)) checks[name] = { status: result.status };
  return { ...report, checks };
}

/** `promise`, or a rejection after CHECK_TIMEOUT_MS. */
export async function withinDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function timed(check: HealthCheck): Promise<CheckResult> {
  const started = performance.now();
  try {
    const result = await withinDeadline(check.run());
    return { ...result, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { status: 'down', error: (err as Error).message };
  }
}
