/**
 * The service as its users run it: `src/main.ts` in a child process, configured by the
 * environment, observed through its JSON log lines. Every process listens on HOST:PORT
 * (CONTRACT v1.1 section 1): PORT is 0 (a free port, logged in `HttpListening`) unless the
 * test names one.
 */
import { fileURLToPath } from 'node:url';
import { start, type Child } from './process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function startService(env: Record<string, string>, args: string[] = []): Child {
  return start(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    // A test's clients share a few subjects: REST's rate limit is lifted unless the test sets it.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', APP_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', REST_RATE_LIMIT: '1000000', ...env },
  });
}

/** Matches a JSON log line carrying `code`. */
export const hasCode = (code: string) => (line: string) => line.includes(`"code":"${code}"`);
