/**
 * `<VAR>_FILE` (src/config/env.ts): a variable's value read from a file, as Docker secrets
 * and Kubernetes Secret volumes hand it out, for the service's schema and the scrapers'.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { loadScrapeConfig } from '../../src/scrape/config.js';

const dir = mkdtempSync(join(tmpdir(), 'navimpact-config-files-'));
const SECRET = 'file-secret-0123456789abcdef-XYZW-long-enough';

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('the configuration was accepted');
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config - values from files', () => {
  it('config files - VAR_FILE gives the value of VAR, trailing line breaks dropped', () => {
    const cfg = loadConfig({
      JWT_SECRET_FILE: file('jwt', `${SECRET}\n`),
      DATABASE_URL_FILE: file('db', 'postgres://navimpact:s3cret@db:5432/navimpact\r\n\n'),
      NATS_URL_FILE: file('nats', 'nats://navimpact:pw@nats-1:4222,nats://navimpact:pw@nats-2:4222'),
    });
    expect(cfg.JWT_SECRET).toBe(SECRET);
    expect(cfg.DATABASE_URL).toBe('postgres://navimpact:s3cret@db:5432/navimpact');
    expect(cfg.NATS_URL).toBe('nats://navimpact:pw@nats-1:4222,nats://navimpact:pw@nats-2:4222');
  });

  it('config files - VAR and VAR_FILE both set is refused, naming VAR', () => {
    const err = refusal(() => loadConfig({ JWT_SECRET: SECRET, JWT_SECRET_FILE: file('jwt2', SECRET) }));
    expect(err.variable).toBe('JWT_SECRET');
    expect(err.message).toMatch(/JWT_SECRET_FILE/);
  });

  it('config files - an unreadable file is refused, naming VAR_FILE and the path', () => {
    const missing = join(dir, 'missing');
    const err = refusal(() => loadConfig({ JWT_SECRET_FILE: missing }));
    expect(err.variable).toBe('JWT_SECRET_FILE');
    expect(err.message).toContain(missing);
    expect(err.message).toContain('ENOENT');
  });

  it('config files - a secret from a file that fails validation is not echoed', () => {
    const err = refusal(() => loadConfig({ JWT_SECRET_FILE: file('short', 'too-short-secret\n') }));
    expect(err.variable).toBe('JWT_SECRET');
    expect(err.message).toMatch(/at least 32 bytes/);
    expect(err.message).not.toContain('too-short-secret');
  });

  it('config files - an empty VAR_FILE counts as unset', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL_FILE: '' }).DATABASE_URL).toBe('postgres://root@127.0.0.1:5432/navimpact');
  });

  it('config files - a scraper reads NATS_PASSWORD_FILE', () => {
    const cfg = loadScrapeConfig({ NATS_USER: 'scraper-grantconnect', NATS_PASSWORD_FILE: file('scraper', 'pw-from-file\n'), SCRAPER_CONTACT: 'ops@example.org' });
    expect(cfg.NATS_PASSWORD).toBe('pw-from-file');
  });
});
