import { ConfigSchema, EnvSchema, SECRET_KEYS, type Config } from './schema.js';

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

const KNOWN = new Set(Object.keys(EnvSchema.shape));
/** Values never echoed in an error: secrets, and what a secret is often pasted into by mistake. */
const NEVER_ECHO = new Set<string>([...SECRET_KEYS, 'JWT_PUBLIC_KEY', 'JWKS_URL']);

/**
 * Parses the environment once. Empty strings count as unset (as docker-compose writes
 * `VAR=`). Throws a ConfigError naming the first offending variable. `migrate` passes
 * `EnvSchema`, which skips the checks that only matter to running roles.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, schema: typeof ConfigSchema | typeof EnvSchema = ConfigSchema): Config {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (KNOWN.has(key) && value !== undefined && value.trim() !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = String(issue?.path[0] ?? 'environment');
  const shown = variable in input && !NEVER_ECHO.has(variable) ? ` (got ${JSON.stringify(input[variable])})` : '';
  throw new ConfigError(variable, `${issue?.message ?? 'is invalid'}${shown}`);
}

/** The configuration with secrets replaced, safe to log. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) {
    if (out[key] !== undefined) out[key] = key.endsWith('_URL') ? redactUrl(String(out[key])) : '[redacted]';
  }
  return out;
}

function redactUrl(value: string): string {
  return value
    .split(',')
    .map((part) => {
      try {
        const url = new URL(part.trim());
        // A password, or a username alone (NATS token auth), is a credential.
        if (url.password) url.password = '***';
        else if (url.username) url.username = '***';
        return url.toString();
      } catch {
        return '[redacted]';
      }
    })
    .join(',');
}
