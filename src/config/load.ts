/** The service's configuration (config/schema.ts), parsed once at start-up and passed down. */
import { parseEnv } from './env.js';
import { isUrlSetting, redactUrl } from './redact.js';
import { ConfigSchema, EnvSchema, SECRET_KEYS, type Config } from './schema.js';

export { ConfigError } from './env.js';

const KNOWN = new Set(Object.keys(EnvSchema.shape));
/**
 * Values never echoed in an error: secrets, every URL-valued setting (its credentials), and
 * what a secret is often pasted into by mistake.
 */
const NEVER_ECHO = new Set<string>([...SECRET_KEYS, 'JWT_PUBLIC_KEY', ...[...KNOWN].filter(isUrlSetting)]);

/**
 * Parses the environment once. Empty strings count as unset (as docker-compose writes
 * `VAR=`). Throws a ConfigError naming the first offending variable. `migrate` passes
 * `EnvSchema`, which skips the checks that only matter to running roles.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, schema: typeof ConfigSchema | typeof EnvSchema = ConfigSchema): Config {
  return parseEnv(schema, KNOWN, env, NEVER_ECHO);
}

/** The configuration with secrets replaced, safe to log: URL-valued settings keep all but their credentials (config/redact.ts). */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(out)) {
    if (value === undefined) continue;
    if (isUrlSetting(key)) out[key] = redactUrl(String(value));
    else if ((SECRET_KEYS as readonly string[]).includes(key)) out[key] = '[redacted]';
  }
  return out;
}
