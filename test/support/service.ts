/**
 * The service as its users run it: `src/main.ts` in a child process, configured by the
 * environment, observed through its JSON log lines.
 */
import { fileURLToPath } from 'node:url';
import { start, type Child } from './process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function startService(env: Record<string, string>, args: string[] = []): Child {
  return start(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', APP_ENV: 'test', LOG_LEVEL: 'info', ...env },
  });
}

/** Matches a JSON log line carrying `code`. */
export const hasCode = (code: string) => (line: string) => line.includes(`"code":"${code}"`);
