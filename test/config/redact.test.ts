/**
 * The one redaction of credentials (src/config/redact.ts, issue 10 item 4): URLs as
 * written by operators, comma lists, and free text a library produced.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Redactor, isUrlSetting, redactUrl, urlCredentials } from '../../src/config/redact.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('redact - URLs', () => {
  it('redact - every URL of a comma list loses its password or token, nothing else changes', () => {
    expect(redactUrl('nats://u:p1secret@a:4222, nats://u:p2secret@b:4222,c:4222')).toBe('nats://u:***@a:4222, nats://u:***@b:4222,c:4222');
    expect(redactUrl('nats://tok3nvalue@a:4222')).toBe('nats://***@a:4222');
    expect(redactUrl('redis://:pw0rd@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(redactUrl('user:pw0rd@host:4222')).toBe('user:***@host:4222');
    expect(redactUrl('postgres://app:p%40ss@db/x?sslmode=require')).toBe('postgres://app:***@db/x?sslmode=require');
    expect(redactUrl('postgres://app:a@b@db/x')).toBe('postgres://app:***@db/x');
    expect(redactUrl('https://auth.example.org/jwks?x=a@b')).toBe('https://auth.example.org/jwks?x=a@b');
  });

  it('redact - credentials are found as written and decoded', () => {
    expect(urlCredentials('postgres://app:p%40ss@db/x,nats://t0ken@n')).toEqual(['p%40ss', 'p@ss', 't0ken', 't0ken']);
    expect(urlCredentials('nats://a:4222')).toEqual([]);
  });

  it('redact - URL-valued settings are those named *_URL or *_DSN', () => {
    expect(['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'JWKS_URL', 'SENTRY_DSN'].every(isUrlSetting)).toBe(true);
    expect(['JWT_SECRET', 'URL', 'NATS_URL_FILE'].some(isUrlSetting)).toBe(false);
  });
});

describe('redact - free text', () => {
  it('redact - scrub removes the credentials of every URL setting and each listed secret, in every form', () => {
    const r = new Redactor();
    r.addSettings(
      { NATS_URL: 'nats://u:first%21pw@a,nats://u:second%21pw@b', JWKS_URL: 'http://k:jwkspass@h/j', JWT_SECRET: 'a "quoted" secret value', HOST: 'visible-host' },
      ['JWT_SECRET'],
    );
    const text = 'x first!pw y second%21pw z jwkspass {"m":"a \\"quoted\\" secret value"} visible-host';
    expect(r.scrub(text)).toBe('x *** y *** z *** {"m":"***"} visible-host');
  });

  it('redact - credentials under 4 characters are left to redactUrl (scrubbing them would blank common text)', () => {
    const r = new Redactor();
    r.addSettings({ REDIS_URL: 'redis://:ab@h' }, []);
    expect(r.scrub('about a cab')).toBe('about a cab');
  });
});

describe('redact - log lines', () => {
  it('redact - a logger made with scrub removes a credential from a message, an error and its cause', () => {
    const script = `
      import { createLogger } from './src/observability/log.ts';
      import { Redactor } from './src/config/redact.ts';
      const r = new Redactor();
      r.addSettings({ NATS_URL: 'nats://svc:n4tsPassw0rd@h:4222' }, []);
      const log = createLogger({ level: 'info', release: 't', scrub: r.scrub });
      log.warn({ err: new Error('cannot connect to nats://svc:n4tsPassw0rd@h:4222', { cause: new Error('n4tsPassw0rd') }) }, 'said n4tsPassw0rd');
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toContain('cannot connect to nats://svc:***@h:4222');
    expect(out).not.toContain('n4tsPassw0rd');
  });
});
