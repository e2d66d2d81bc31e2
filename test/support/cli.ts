import { fileURLToPath } from 'node:url';
import { start, type Child } from './process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `src/cli/<name>.ts` as `npm run <name> -- ...args` runs it, from the repository's
 * root, with `env` (and PATH and HOME) as its whole environment.
 */
export function startCli(name: string, args: string[], env: Record<string, string>): Child {
  return start(process.execPath, ['--import', 'tsx', `src/cli/${name}.ts`, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
}
