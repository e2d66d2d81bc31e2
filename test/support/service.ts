/**
 * The service as its users run it: `src/main.ts` in a child process, configured by the
 * environment, observed through its JSON log lines. Every process listens on HOST:PORT
 * (CONTRACT v1.1 section 1): PORT is 0 (a free port, logged in `HttpListening`) unless the
 * test names one.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { start, type Child } from './process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The Node options of `npm start` (package.json's `start`: what comes between `node` and
 * `--import`): tests and benches run the service with the options it is deployed with.
 */
export const SERVICE_NODE_ARGS: readonly string[] = (() => {
  const words = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
  if (words[0] !== 'node' || !words.includes('--import')) throw new Error(`package.json start is not "node [options] --import tsx src/main.ts": ${words.join(' ')}`);
  return words.slice(1, words.indexOf('--import'));
})();

export function startService(env: Record<string, string>, args: string[] = []): Child {
  return start(process.execPath, [...SERVICE_NODE_ARGS, '--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    // A test's clients share a few subjects: REST's rate limit is lifted unless the test sets it.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', APP_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', REST_RATE_LIMIT: '1000000', ...env },
  });
}

/** Matches a JSON log line carrying `code`. */
export const hasCode = (code: string) => (line: string) => line.includes(`"code":"${code}"`);
