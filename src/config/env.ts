/**
 * Reading a configuration from the environment, for the service (config/load.ts) and the
 * scrapers (scrape/config.ts): one zod schema, parsed once, and one clear line naming the
 * first offending variable when it does not pass.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/** What a variable's name ends with when its value is the content of a file. */
export const FILE_SUFFIX = '_FILE';

/** A configuration error: `message` is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`${variable} ${reason}`);
  }
}

/**
 * Parses the variables `schema` knows out of `env`. Empty strings count as unset (as
 * docker-compose writes `VAR=`). Any known `VAR` may instead be given as `VAR_FILE`, the
 * path of a file holding the value (trailing line breaks dropped), as Docker secrets
 * (`/run/secrets/<name>`) and Kubernetes Secret volumes hand them out: a secret then
 * never sits in the environment, where `docker inspect` and `/proc/<pid>/environ` show it.
 * Throws a ConfigError naming the first offending variable, echoing its value unless it is
 * in `neverEcho` (secrets, and what secrets get pasted into).
 */
export function parseEnv<S extends z.ZodType>(schema: S, known: ReadonlySet<string>, env: NodeJS.ProcessEnv, neverEcho: ReadonlySet<string>): z.output<S> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (known.has(key) && value !== undefined && value.trim() !== '') input[key] = value;
  }
  for (const key of known) {
    const path = env[key + FILE_SUFFIX];
    if (path === undefined || path.trim() === '') continue;
    if (key in input) throw new ConfigError(key, `is set both directly and through ${key}${FILE_SUFFIX}; set one`);
    input[key] = readValueFile(key + FILE_SUFFIX, path);
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = String(issue?.path[0] ?? 'environment');
  const shown = variable in input && !neverEcho.has(variable) ? ` (got ${JSON.stringify(input[variable])})` : '';
  throw new ConfigError(variable, `${issue?.message ?? 'is invalid'}${shown}`);
}

/** The content of the file at `path` named by `variable`, without trailing line breaks. */
function readValueFile(variable: string, path: string): string {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(variable, `names a file that cannot be read (${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return content.replace(/(\r?\n)+$/, '');
}
