/**
 * `npm run token -- --sub NAME [--role ROLE] [--ttl 15m] [--iss X] [--aud Y] [--kid K]`
 * (CONTRACT section 2): prints a token for development and service accounts, signed with
 * JWT_PRIVATE_KEY when set (ES256, EdDSA or RS256 by its key type), else with JWT_SECRET
 * (HS256). `iss` and `aud` default to JWT_ISSUER and JWT_AUDIENCE, so the token passes the
 * gateway configured by the same environment.
 *
 * stdout carries the token and a newline only, so `TOKEN=$(npm run -s token -- --sub me)`
 * works. Errors are one line on stderr; exit `ExitCode.Usage` (64) for bad arguments,
 * `ExitCode.Config` (78) for missing or bad configuration.
 */
import { createPrivateKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { importPKCS8, SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../config/load.js';
import { EnvSchema } from '../config/schema.js';
import { parseDuration } from '../config/duration.js';
import { ExitCode } from '../domain/codes.js';
import { TokenClaims, TokenRole, TOKEN_ROLES } from '../domain/token.js';
import { algorithmForKey, normalizePem } from '../auth/keys.js';
import { CliError, runCli } from './run.js';

const USAGE = `usage: npm run token -- --sub NAME [--role ${TOKEN_ROLES.join('|')}] [--ttl 15m] [--iss ISSUER] [--aud AUDIENCE] [--kid KEY_ID]`;

interface Request {
  sub: string;
  role: TokenRole;
  ttlMs: number;
  iss?: string;
  aud?: string;
  kid?: string;
}

function parseRequest(argv: string[]): Request | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        sub: { type: 'string' },
        role: { type: 'string', default: 'viewer' },
        ttl: { type: 'string', default: '15m' },
        iss: { type: 'string' },
        aud: { type: 'string' },
        kid: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliError(ExitCode.Usage, `${(err as Error).message.split('\n')[0]}; ${USAGE}`);
  }
  if (values.help) return 'help';
  if (values.sub === undefined) throw new CliError(ExitCode.Usage, `--sub is required; ${USAGE}`);
  if (!TokenClaims.shape.sub.safeParse(values.sub).success) throw new CliError(ExitCode.Usage, '--sub must be 1 to 256 characters');
  const role = TokenRole.safeParse(values.role);
  if (!role.success) throw new CliError(ExitCode.Usage, `--role must be one of ${TOKEN_ROLES.join(', ')} (got ${JSON.stringify(values.role)})`);
  let ttlMs: number;
  try {
    ttlMs = parseDuration(values.ttl);
  } catch {
    throw new CliError(ExitCode.Usage, `--ttl must be a duration such as 30s, 15m, 24h or 7d (got ${JSON.stringify(values.ttl)})`);
  }
  if (ttlMs < 1_000) throw new CliError(ExitCode.Usage, '--ttl must be at least 1s');
  for (const name of ['iss', 'aud', 'kid'] as const) {
    if (values[name] === '') throw new CliError(ExitCode.Usage, `--${name} must not be empty`);
  }
  return { sub: values.sub, role: role.data, ttlMs, iss: values.iss, aud: values.aud, kid: values.kid };
}

async function signingKey(): Promise<{ alg: string; key: CryptoKey | Uint8Array; issuer?: string; audience?: string; maxTtlMs: number }> {
  let config;
  try {
    // EnvSchema, not ConfigSchema: the gateway's own start-up checks do not concern a CLI.
    config = loadConfig(undefined, EnvSchema);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.Config, `configuration: ${err.message}`);
    throw err;
  }
  const defaults = { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, maxTtlMs: config.JWT_MAX_TTL };
  if (config.JWT_PRIVATE_KEY !== undefined) {
    const pem = normalizePem(config.JWT_PRIVATE_KEY);
    try {
      const alg = algorithmForKey(createPrivateKey({ key: pem, format: 'pem' }));
      return { alg, key: await importPKCS8(pem, alg), ...defaults };
    } catch (err) {
      throw new CliError(ExitCode.Config, `configuration: JWT_PRIVATE_KEY ${(err as Error).message}`);
    }
  }
  if (config.JWT_SECRET !== undefined) return { alg: 'HS256', key: new TextEncoder().encode(config.JWT_SECRET), ...defaults };
  throw new CliError(ExitCode.Config, 'configuration: no signing key: set JWT_PRIVATE_KEY (PEM PKCS#8) or JWT_SECRET (HS256)');
}

async function main(argv: string[]): Promise<ExitCode> {
  const request = parseRequest(argv);
  if (request === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.Ok;
  }
  const { alg, key, issuer, audience, maxTtlMs } = await signingKey();
  // The verifier refuses a token that lives longer than JWT_MAX_TTL: do not print one.
  if (request.ttlMs > maxTtlMs) throw new CliError(ExitCode.Usage, `--ttl is longer than JWT_MAX_TTL (${maxTtlMs / 1000}s): the service would refuse the token`);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ role: request.role })
    .setProtectedHeader({ alg, typ: 'JWT', ...(request.kid !== undefined && { kid: request.kid }) })
    .setSubject(request.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(request.ttlMs / 1000));
  const iss = request.iss ?? issuer;
  const aud = request.aud ?? audience;
  if (iss !== undefined) jwt.setIssuer(iss);
  if (aud !== undefined) jwt.setAudience(aud);
  process.stdout.write(`${await jwt.sign(key)}\n`);
  return ExitCode.Ok;
}

runCli('navimpact token', () => main(process.argv.slice(2)));
