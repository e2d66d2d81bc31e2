/**
 * Configuration (CONTRACT section 1): defaults, refusals with one line naming the
 * variable, the production rules, and secrets that never reach a log or an error.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig } from '../../src/config/load.js';

/** A secret long enough for HS256, so the default roles (gateway included) start. */
const SECRET = 'test-secret-0123456789abcdef-XYZW-long-enough';

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('config - defaults', () => {
  it('config - defaults match CONTRACT section 1', () => {
    const cfg = loadConfig({ JWT_SECRET: SECRET });
    expect(cfg.DATABASE_URL).toBe('postgres://root@127.0.0.1:5432/navimpact');
    expect(cfg.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(cfg.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(cfg.HOST).toBe('127.0.0.1');
    expect(cfg.PORT).toBe(8080);
    expect(cfg.CORS_ORIGINS).toEqual([]);
    expect(cfg.APP_ENV).toBe('development');
    expect(cfg.ROLES).toEqual(['gateway', 'relay', 'invalidator', 'ingest']);
    expect(cfg.SENTRY_DSN).toBeUndefined();
    expect(cfg.JWT_PUBLIC_KEY).toBeUndefined();
    expect(cfg.JWKS_URL).toBeUndefined();
    expect(cfg.JWT_ISSUER).toBeUndefined();
    expect(cfg.JWT_AUDIENCE).toBeUndefined();
    expect(cfg.GRANTS_MAX_AGE).toBe(24 * 3_600_000);
  });

  it('config - an empty or blank value counts as unset', () => {
    const cfg = loadConfig({
      JWT_SECRET: SECRET,
      PORT: '',
      HOST: '   ',
      DATABASE_URL: '',
      NATS_URL: '',
      ROLES: '',
      APP_ENV: '',
      CORS_ORIGINS: '',
      SENTRY_DSN: '',
      JWT_PUBLIC_KEY: '',
      GRANTS_MAX_AGE: '',
    });
    expect(cfg.PORT).toBe(8080);
    expect(cfg.HOST).toBe('127.0.0.1');
    expect(cfg.DATABASE_URL).toBe('postgres://root@127.0.0.1:5432/navimpact');
    expect(cfg.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(cfg.ROLES).toEqual(['gateway', 'relay', 'invalidator', 'ingest']);
    expect(cfg.APP_ENV).toBe('development');
    expect(cfg.CORS_ORIGINS).toEqual([]);
    expect(cfg.SENTRY_DSN).toBeUndefined();
    expect(cfg.JWT_PUBLIC_KEY).toBeUndefined();
    expect(cfg.GRANTS_MAX_AGE).toBe(24 * 3_600_000);
  });

  it('config - set values are parsed into their types', () => {
    const cfg = loadConfig({
      JWT_SECRET: SECRET,
      PORT: '9001',
      ROLES: ' relay , ingest ',
      CORS_ORIGINS: 'https://app.example.org, http://localhost:5173',
      GRANTS_MAX_AGE: '2h',
      APP_ENV: 'test',
    });
    expect(cfg.PORT).toBe(9001);
    expect(cfg.ROLES).toEqual(['relay', 'ingest']);
    expect(cfg.CORS_ORIGINS).toEqual(['https://app.example.org', 'http://localhost:5173']);
    expect(cfg.GRANTS_MAX_AGE).toBe(2 * 3_600_000);
    expect(cfg.APP_ENV).toBe('test');
  });

  it('config - variables the schema does not know are ignored', () => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, SOMETHING_ELSE: 'x', PATH: '/usr/bin' })).not.toThrow();
  });
});

describe('config - refusals', () => {
  const bad: [variable: string, value: string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['APP_ENV', 'staging'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['ROLES', 'gateway,foo'],
    ['ROLES', ','],
    ['CORS_ORIGINS', 'https://a.org/path'],
    ['CORS_ORIGINS', 'https://app.example.org/'],
    ['CORS_ORIGINS', 'ftp://files.example.org'],
    ['JWT_SECRET', 'x'.repeat(31)],
    ['GRANTS_MAX_AGE', 'forever'],
    ['GRANTS_MAX_AGE', '24'],
    ['JWT_PUBLIC_KEY', 'not-a-pem-key'],
    ['JWKS_URL', 'ftp://keys.example.org/jwks.json'],
    ['LOG_LEVEL', 'loud'],
  ];

  for (const [variable, value] of bad) {
    it(`config - ${variable}=${JSON.stringify(value)} is refused with one line naming ${variable}`, () => {
      const err = refusal({ JWT_SECRET: SECRET, [variable]: value });
      expect(err.variable).toBe(variable);
      expect(err.message.startsWith(`${variable} `)).toBe(true);
      expect(err.message).not.toMatch(/[\r\n]/);
      expect(err.name).toBe('ConfigError');
    });
  }

  it('config - a multi-line PEM that is not a public key still gives a single-line error', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBBQUAMBExDzANBgNVBAMMBnRl\n-----END CERTIFICATE-----\n';
    const err = refusal({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: pem });
    expect(err.message.startsWith('JWT_PUBLIC_KEY ')).toBe(true);
    expect(err.message).not.toMatch(/[\r\n]/);
  });

  it('config - a PEM public key is accepted', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';
    expect(loadConfig({ ROLES: 'gateway', JWT_PUBLIC_KEY: pem }).JWT_PUBLIC_KEY).toBe(pem);
  });
});

describe('config - production rules', () => {
  const base = { APP_ENV: 'production', JWT_SECRET: SECRET };

  for (const origins of ['*', 'https://app.example.org,*', 'http://localhost:3000', 'https://app.example.org,http://127.0.0.1:8080', 'http://[::1]:8080']) {
    it(`config - production refuses CORS_ORIGINS=${origins}`, () => {
      const err = refusal({ ...base, CORS_ORIGINS: origins });
      expect(err.variable).toBe('CORS_ORIGINS');
      expect(err.message.startsWith('CORS_ORIGINS ')).toBe(true);
      expect(err.message).not.toMatch(/[\r\n]/);
    });
  }

  it('config - production accepts exact public origins', () => {
    const cfg = loadConfig({ ...base, CORS_ORIGINS: 'https://app.example.org,https://admin.example.org:8443' });
    expect(cfg.CORS_ORIGINS).toEqual(['https://app.example.org', 'https://admin.example.org:8443']);
  });

  it('config - development accepts localhost and wildcard origins', () => {
    const cfg = loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: '*,http://localhost:3000' });
    expect(cfg.CORS_ORIGINS).toEqual(['*', 'http://localhost:3000']);
  });
});

describe('config - token verification', () => {
  it('config - the gateway role without JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is refused', () => {
    for (const roles of ['gateway', 'relay,gateway']) {
      const err = refusal({ ROLES: roles });
      expect(err.message).toMatch(/^JWT_SECRET /);
      expect(err.message).toContain('JWT_PUBLIC_KEY');
      expect(err.message).toContain('JWKS_URL');
      expect(err.message).not.toMatch(/[\r\n]/);
    }
    // The default roles include the gateway.
    expect(refusal({}).variable).toBe('JWT_SECRET');
  });

  it('config - the gateway role accepts any one of the three key sources', () => {
    expect(loadConfig({ ROLES: 'gateway', JWT_SECRET: SECRET }).JWT_SECRET).toBe(SECRET);
    expect(loadConfig({ ROLES: 'gateway', JWKS_URL: 'https://auth.example.org/.well-known/jwks.json', JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'navimpact' }).JWKS_URL).toBe(
      'https://auth.example.org/.well-known/jwks.json',
    );
  });

  it('config - roles without the gateway need no token key outside production', () => {
    expect(loadConfig({ ROLES: 'relay' }).ROLES).toEqual(['relay']);
    expect(loadConfig({ ROLES: 'relay,invalidator,ingest' }).ROLES).toEqual(['relay', 'invalidator', 'ingest']);
  });

  it('config - in production every process needs a token key, for /metrics', () => {
    const err = refusal({ ROLES: 'relay', APP_ENV: 'production' });
    expect(err.variable).toBe('JWT_SECRET');
    expect(err.message).toContain('/metrics');
    expect(loadConfig({ ROLES: 'relay', APP_ENV: 'production', JWT_SECRET: SECRET }).ROLES).toEqual(['relay']);
  });
});

describe('config - token policy (CONTRACT v1.1 section 2)', () => {
  const JWKS = 'https://auth.example.org/.well-known/jwks.json';
  const idp = { JWT_ISSUER: 'https://auth.example.org/', JWT_AUDIENCE: 'navimpact' };

  it('config - JWT_MAX_TTL defaults to 24h and takes a duration; under 1s is refused', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).JWT_MAX_TTL).toBe(24 * 3_600_000);
    expect(loadConfig({ JWT_SECRET: SECRET, JWT_MAX_TTL: '15m' }).JWT_MAX_TTL).toBe(900_000);
    for (const value of ['0s', 'forever', '-1h']) {
      const err = refusal({ JWT_SECRET: SECRET, JWT_MAX_TTL: value });
      expect(err.variable).toBe('JWT_MAX_TTL');
    }
  });

  it('config - JWKS_URL without JWT_ISSUER or without JWT_AUDIENCE is refused naming the missing one, in every environment', () => {
    for (const APP_ENV of ['development', 'production']) {
      const none = refusal({ APP_ENV, JWKS_URL: JWKS });
      expect(none.variable).toBe('JWT_ISSUER');
      expect(none.message).toMatch(/^JWT_ISSUER must be set when JWKS_URL is/);
      const noAudience = refusal({ APP_ENV, JWKS_URL: JWKS, JWT_ISSUER: idp.JWT_ISSUER });
      expect(noAudience.variable).toBe('JWT_AUDIENCE');
      expect(noAudience.message).toMatch(/^JWT_AUDIENCE must be set when JWKS_URL is/);
      expect(refusal({ APP_ENV, JWKS_URL: JWKS, JWT_AUDIENCE: idp.JWT_AUDIENCE }).variable).toBe('JWT_ISSUER');
    }
    expect(loadConfig({ APP_ENV: 'production', JWKS_URL: JWKS, ...idp }).JWKS_URL).toBe(JWKS);
  });

  it('config - production refuses an http: JWKS_URL without echoing it; development accepts one', () => {
    const url = 'http://auth.example.org/.well-known/jwks.json';
    const err = refusal({ APP_ENV: 'production', JWKS_URL: url, ...idp });
    expect(err.variable).toBe('JWKS_URL');
    expect(err.message).toMatch(/^JWKS_URL must be an https: URL when APP_ENV=production/);
    expect(err.message).not.toContain(url);
    expect(loadConfig({ APP_ENV: 'development', JWKS_URL: url, ...idp }).JWKS_URL).toBe(url);
  });

  it('config - production refuses an http: CORS origin, even a public one; development accepts it', () => {
    for (const origins of ['http://app.example.org', 'https://app.example.org,http://admin.example.org:8080']) {
      const err = refusal({ APP_ENV: 'production', JWT_SECRET: SECRET, CORS_ORIGINS: origins });
      expect(err.variable).toBe('CORS_ORIGINS');
      expect(err.message).toMatch(/^CORS_ORIGINS must list only https: origins when APP_ENV=production/);
    }
    expect(loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: 'http://app.example.org' }).CORS_ORIGINS).toEqual(['http://app.example.org']);
  });
});

describe('config - secrets', () => {
  const JWT = 'jwt-secret-value-that-must-never-be-logged-0123';
  const DSN_KEY = 'd5n0publickey1234abcd';
  const DB_PW = 'db-password-q9w8e7';
  const REDIS_PW = 'redis-password-z1x2c3';
  const NATS_PW = 'nats-password-m4n5b6';

  it('config - redactConfig hides JWT_SECRET, SENTRY_DSN and URL passwords', () => {
    const cfg = loadConfig({
      JWT_SECRET: JWT,
      SENTRY_DSN: `https://${DSN_KEY}@o1.ingest.sentry.io/42`,
      DATABASE_URL: `postgres://app:${DB_PW}@db.internal:5432/navimpact`,
      REDIS_URL: `redis://:${REDIS_PW}@cache.internal:6379`,
      NATS_URL: `nats://relay:${NATS_PW}@nats-1.internal:4222,nats://relay:${NATS_PW}@nats-2.internal:4222`,
    });
    // The parsed config holds them (the service needs them)...
    expect(JSON.stringify(cfg)).toContain(JWT);
    // ...the redacted one does not.
    const text = JSON.stringify(redactConfig(cfg));
    for (const secret of [JWT, DSN_KEY, DB_PW, REDIS_PW, NATS_PW]) expect(text).not.toContain(secret);
    const redacted = redactConfig(cfg);
    expect(redacted.JWT_SECRET).toBe('[redacted]');
    // What is not secret stays readable, so the logged config is still useful.
    expect(String(redacted.DATABASE_URL)).toContain('db.internal:5432/navimpact');
    expect(String(redacted.REDIS_URL)).toContain('cache.internal:6379');
    expect(redacted.PORT).toBe(8080);
  });

  it('config - redactConfig leaves an unset secret unset', () => {
    const redacted = redactConfig(loadConfig({ ROLES: 'relay' }));
    expect(redacted.JWT_SECRET).toBeUndefined();
    expect(redacted.SENTRY_DSN).toBeUndefined();
  });

  it('config - a refused secret value is never echoed in the error', () => {
    const cases: [string, string, string][] = [
      ['JWT_SECRET', 'short-jwt-s3cret', 'short-jwt-s3cret'],
      ['SENTRY_DSN', `ftp://${DSN_KEY}@sentry.example.org/42`, DSN_KEY],
      ['DATABASE_URL', `mysql://app:${DB_PW}@db.internal/navimpact`, DB_PW],
      ['REDIS_URL', `http://:${REDIS_PW}@cache.internal:6379`, REDIS_PW],
    ];
    for (const [variable, value, secret] of cases) {
      const err = refusal({ JWT_SECRET: JWT, [variable]: value });
      expect(err.variable).toBe(variable);
      expect(err.message).not.toContain(secret);
      expect(err.reason).not.toContain(secret);
    }
  });

  it('config - a refused value that is not secret is echoed, so the operator sees what was read', () => {
    expect(refusal({ JWT_SECRET: JWT, PORT: 'abc' }).message).toContain('"abc"');
  });
});
