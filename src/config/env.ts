/**
 * Reading a configuration from the environment, for the service (config/load.ts) and the
 * scrapers (scrape/config.ts): one zod schema, parsed once, and one clear line naming the
 * first offending variable when it does not pass.
 */
import type { z } from 'zod';

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
 * docker-compose writes `VAR=`). Throws a ConfigError naming the first offending variable,
 * echoing its value unless it is in `neverEcho` (secrets, and what secrets get pasted into).
 */
export function parseEnv<S extends z.ZodType>(schema: S, known: ReadonlySet<string>, env: NodeJS.ProcessEnv, neverEcho: ReadonlySet<string>): z.output<S> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (known.has(key) && value !== undefined && value.trim() !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = String(issue?.path[0] ?? 'environment');
  const shown = variable in input && !neverEcho.has(variable) ? ` (got ${JSON.stringify(input[variable])})` : '';
  throw new ConfigError(variable, `${issue?.message ?? 'is invalid'}${shown}`);
}
