/**
 * Error reporting for real (issue 2): a crashing child process with SENTRY_DSN pointed at
 * a local HTTP server that plays Sentry's ingest endpoint. The envelope must arrive with
 * the error, the release, the environment and the role; the process must log the crash
 * with its code and exit 70.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogCode } from '../../src/domain/codes.js';
import { start, type Child } from '../support/process.js';
import { FakeSentry, type Envelope } from '../support/sentry.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROJECT = '42';

describe('sentry - crash reporting', () => {
  let sentry: FakeSentry;
  let port: number;
  let child: Child | undefined;

  beforeEach(async () => {
    sentry = new FakeSentry();
    port = await sentry.listen();
  });

  afterEach(async () => {
    await child?.kill('SIGKILL');
    child = undefined;
    await sentry.close();
  });

  const cases = [
    { mode: 'exception', code: LogCode.UncaughtException, text: 'thrown from a timer' },
    { mode: 'rejection', code: LogCode.UnhandledRejection, text: 'rejected and never handled' },
  ] as const;

  for (const { mode, code, text } of cases) {
    it(`sentry - an unhandled ${mode} is reported with release, environment and role, logged as ${code}, and exits 70`, async () => {
      const marker = randomUUID();
      const release = `navimpact-live@test-${marker.slice(0, 8)}`;
      child = start(process.execPath, ['--import', 'tsx', 'test/fixtures/crash.ts', mode], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/root',
          SENTRY_DSN: `http://publickey@127.0.0.1:${port}/${PROJECT}`,
          RELEASE: release,
          APP_ENV: 'sentry-test',
          CRASH_MARKER: marker,
        },
      });

      const isEvent = (e: Envelope) => e.items.some((i) => i.header.type === 'event');
      // The request event, or the process's exit without one (the report must be flushed
      // before the process ends).
      const arrived = await Promise.race([sentry.next(isEvent), child.exited.then(() => sentry.envelopes.find(isEvent) ?? null)]);
      expect(arrived, 'an event envelope arrived before the process exited').not.toBeNull();
      const envelope = arrived!;
      const { code: exitCode } = await child.exited;

      expect(envelope.path.startsWith(`/api/${PROJECT}/envelope/`)).toBe(true);
      expect(new URL(envelope.path, 'http://x').searchParams.get('sentry_key')).toBe('publickey');
      expect(envelope.header.event_id).toEqual(expect.any(String));
      const event = envelope.items.find((i) => i.header.type === 'event')!.payload as {
        release?: string;
        environment?: string;
        tags?: Record<string, string>;
        exception?: { values?: { type?: string; value?: string }[] };
      };
      const exception = event.exception?.values?.at(-1);
      expect(exception?.type).toBe('Error');
      expect(exception?.value).toBe(`${text} ${marker}`);
      expect(event.release).toBe(release);
      expect(event.environment).toBe('sentry-test');
      expect(event.tags?.role).toBe('relay');

      expect(exitCode).toBe(70);

      const fatal = child.lines
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.code === code);
      expect(fatal).toBeDefined();
      expect(fatal!.level).toBe('fatal');
      expect(fatal!.release).toBe(release);
      expect(JSON.stringify(fatal!.err)).toContain(marker);
    });
  }

  it('sentry - without SENTRY_DSN the crash is still logged as fatal and exits 70', async () => {
    child = start(process.execPath, ['--import', 'tsx', 'test/fixtures/crash.ts', 'exception'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', CRASH_MARKER: 'no-dsn' },
    });
    const { code } = await child.exited;
    expect(code).toBe(70);
    expect(child.lines.some((l) => l.includes(`"code":"${LogCode.UncaughtException}"`) && l.includes('"level":"fatal"'))).toBe(true);
  });
});
