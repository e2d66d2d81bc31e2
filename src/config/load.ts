/** The service's configuration (config/schema.ts), parsed once at start-up and passed down. */
import { parseEnv } from './env.js';
import { ConfigSchema, EnvSchema, SECRET_KEYS, type Config } from './schema.js';

export { ConfigError } from './env.js';

const KNOWN = new Set(Object.keys(EnvSchema.shape));
/** Values never echoed in an error: secrets, and what a secret is often pasted into by mistake. */
const NEVER_ECHO = new Set<string>([...SECRET_KEYS, 'JWT_PUBLIC_KEY', 'JWKS_URL']);

/**
 * Parses the environment once. Empty strings count as unset (as docker-compose writes
 * `VAR=`). Throws a ConfigError naming the first offending variable. `migrate` passes
 * `EnvSchema`, which skips the checks that only matter to running roles.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, schema: typeof ConfigSchema | typeof EnvSchema = ConfigSchema): Config {
  return parseEnv(schema, KNOWN, env, NEVER_ECHO);
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
