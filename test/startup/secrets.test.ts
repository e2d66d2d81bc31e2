/**
 * No credential of a URL-valued setting (or any other secret) reaches stderr or a log line
 * (issue 10 item 4). Every URL variable carries a password; each run fails (or runs against
 * dependencies that refuse it) at a different point: configuration, Postgres, NATS (a
 * comma list, whose second URL the scraper's old mask leaked), Redis, JWKS and Sentry
 * unreachable. Everything the process printed, stdout and stderr, is searched for each
 * password as written and as a library would decode it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateNats } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { hasCode, startService } from '../support/service.js';
import type { Child } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One password per variable; `%21` (`!`) so that the decoded form differs from the written one. */
const PW = {
  database: 'dbPass%21Secret0001',
  redis: 'redisPass%21Secret0002',
  nats: 'natsPass%21Secret0003',
  jwks: 'jwksPass%21Secret0004',
  // A Sentry key is letters and digits (Sentry's grammar; another DSN is refused at start-up).
  sentry: 'sentryKeySecret0005',
  jwt: 'jwt-secret-that-is-long-enough-0006-abcdef',
  scrapeSecond: 'scrapeSecond%21Secret0007',
  natsPassword: 'natsPasswordVar%21Secret0008',
};
/** Every form in which a password could be printed. */
const FORBIDDEN = Object.values(PW).flatMap((pw) => [pw, decodeURIComponent(pw), pw.replace(/%21.*$/, '')]).filter((s) => s.length >= 8);

const databases: TestDatabase[] = [];
const natsServers: PrivateNats[] = [];
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await Promise.all(natsServers.map((n) => n.stop()));
  await Promise.all(databases.map((d) => d.drop()));
});

function expectClean(output: string): void {
  for (const secret of FORBIDDEN) expect(output, `output contains ${secret}:\n${output}`).not.toContain(secret);
}

/** Every URL variable with a password, at closed ports unless `overrides` names a real server. */
async function secretEnv(overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const [db, redis, nats1, nats2, jwks, sentry] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  return {
    DATABASE_URL: `postgres://root:${PW.database}@127.0.0.1:${db}/navimpact`,
    REDIS_URL: `redis://:${PW.redis}@127.0.0.1:${redis}`,
    NATS_URL: `nats://svc:${PW.nats}@127.0.0.1:${nats1},nats://svc:${PW.nats}@127.0.0.1:${nats2}`,
    JWKS_URL: `http://keys:${PW.jwks}@127.0.0.1:${jwks}/.well-known/jwks.json`,
    JWT_ISSUER: 'https://auth.example.org/',
    JWT_AUDIENCE: 'navimpact',
    SENTRY_DSN: `http://${PW.sentry}@127.0.0.1:${sentry}/1`,
    JWT_SECRET: PW.jwt,
    ...overrides,
  };
}

/** Runs the service to its end; all it printed. */
async function runToExit(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const child = startService(env, args);
  children.push(child);
  const { code } = await child.exited;
  return { code, output: child.lines.join('\n') };
}

describe('secrets - the service', () => {
  it('secrets - a configuration error (another variable, then a URL variable itself) prints no password', async () => {
    const other = await runToExit({ ...(await secretEnv()), PORT: 'abc' });
    expect(other.code).toBe(78);
    expect(other.output).toContain('PORT');
    expectClean(other.output);

    const own = await runToExit({ ...(await secretEnv()), REDIS_URL: `http://user:${PW.redis}@127.0.0.1:6379` });
    expect(own.code).toBe(78);
    expect(own.output).toContain('REDIS_URL');
    expectClean(own.output);

    // Sentry's SDK would print a DSN it cannot parse, key and all: refused before it sees it.
    const dsn = await runToExit({ ...(await secretEnv()), SENTRY_DSN: `http://${PW.database}@127.0.0.1:9/1` });
    expect(dsn.code).toBe(78);
    expect(dsn.output).toContain('SENTRY_DSN');
    expectClean(dsn.output);
  }, 90_000);

  it('secrets - Postgres unreachable: exit 69 and no password', async () => {
    const run = await runToExit({ ...(await secretEnv()), ROLES: 'relay' });
    expect(run.code).toBe(69);
    expect(run.output).toContain('DATABASE_URL');
    expectClean(run.output);
  }, 60_000);

  it('secrets - every NATS server of the list unreachable: exit 69 naming the servers, no password', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    // The shared server trusts local connections, so the password is ignored, not refused.
    const url = new URL(db.url);
    url.password = PW.database;
    url.username = 'root';
    const env = await secretEnv({ DATABASE_URL: url.toString() });
    const run = await runToExit({ ...env, ROLES: 'relay' });
    expect(run.code).toBe(69);
    expect(run.output).toMatch(/NATS_URL: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+,nats:\/\/127\.0\.0\.1:\d+/);
    expectClean(run.output);
  }, 60_000);

  it('secrets - Redis, JWKS and Sentry unreachable while running every role: no password in any log line', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const nats = await PrivateNats.start();
    natsServers.push(nats);
    const url = new URL(db.url);
    url.username = 'root';
    url.password = PW.database;
    const natsUrl = new URL(nats.url);
    // nats-server without accounts ignores the credentials the client sends.
    const env = await secretEnv({ DATABASE_URL: url.toString(), NATS_URL: `nats://svc:${PW.nats}@${natsUrl.host},nats://svc:${PW.nats}@127.0.0.1:${await freePort()}`, LOG_LEVEL: 'debug' });
    const child = startService(env);
    children.push(child);
    const listening = await child.waitFor(hasCode('HttpListening'), 60_000, 'listening');
    const port = (JSON.parse(listening) as { port: number }).port;
    // An ES256 token makes the gateway fetch the JWKS (unreachable: unknown_key); a valid
    // HS256 token reads a grant page, through the (unreachable) Redis cache.
    const foreign = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln';
    const refused = await fetch(`http://127.0.0.1:${port}/v1/grants`, { headers: { authorization: `Bearer ${foreign}` } });
    expect(refused.status).toBe(401);
    const valid = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setIssuer(env.JWT_ISSUER!).setAudience(env.JWT_AUDIENCE!).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(PW.jwt));
    const page = await fetch(`http://127.0.0.1:${port}/v1/grants`, { headers: { authorization: `Bearer ${valid}` } });
    expect(page.status).toBeLessThan(600);
    await page.text();
    // /health with an admin token: the details with the drivers' error text.
    const admin = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setIssuer(env.JWT_ISSUER!).setAudience(env.JWT_AUDIENCE!).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(PW.jwt));
    const health = await fetch(`http://127.0.0.1:${port}/health`, { headers: { authorization: `Bearer ${admin}` } });
    const details = await health.text();
    expect(details).toContain('"redis"');
    expectClean(details);
    await child.kill('SIGTERM');
    const output = child.lines.join('\n');
    expect(output).toContain('"code":"HttpListening"');
    expectClean(output);
  }, 120_000);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScrape(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/scrape.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('secrets - the scraper CLI', () => {
  it('secrets - NATS unreachable with a list of URLs, each with its password: exit 69 and no password', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const run = await runScrape(['--source', 'grantconnect', '--once'], {
      SCRAPER_CONTACT: 'ops@example.org',
      NATS_URL: `nats://scraper:${PW.nats}@127.0.0.1:${a},nats://scraper:${PW.scrapeSecond}@127.0.0.1:${b}`,
    });
    expect(run.code).toBe(69);
    expect(run.stderr).toMatch(/cannot connect to NATS at nats:\/\/scraper:\*\*\*@127\.0\.0\.1:\d+,nats:\/\/scraper:\*\*\*@127\.0\.0\.1:\d+/);
    expectClean(run.stdout + run.stderr);
  });

  it('secrets - a configuration error with NATS_PASSWORD and a NATS_URL password set prints neither', async () => {
    const run = await runScrape(['--source', 'grantconnect', '--once'], {
      NATS_URL: `nats://scraper:${PW.nats}@127.0.0.1:1`,
      NATS_USER: 'scraper',
      NATS_PASSWORD: PW.natsPassword,
      SCRAPER_CONTACT: 'ops@example.org',
      // A secret pasted into the wrong variable: its value is echoed, then scrubbed.
      SCRAPE_MIN_DELAY: `${PW.natsPassword}`,
    });
    expect(run.code).toBe(78);
    expectClean(run.stdout + run.stderr);
  });
});
