/**
 * The production compose (deploy/compose.production.yml) without a Docker engine: its
 * shape (what issue 14 asks of it), the secrets deploy/compose/make-secrets.sh makes (and
 * that they agree with each other), and the shipped server configurations run on this
 * machine with those secrets: Redis with deploy/compose/redis.conf and its ACL, and a NATS
 * node with deploy/nats/cluster.conf through deploy/compose/env-from-secrets.sh.
 * `.ci/run` validates the file itself with `docker-compose config -q`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/bus/nats.js';
import { loadScrapeConfig } from '../../src/scrape/config.js';
import { natsOptions } from '../../src/scrape/scraper.js';
import { testLog } from '../support/log.js';
import { freePort } from '../support/ports.js';
import { start, type Child } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  restart?: string;
  networks?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
}

/** A URL's password, or undefined. */
const passwordOf = (url: string) => decodeURIComponent(new URL(url).password) || undefined;

describe('deploy - production compose', () => {
  const compose = parse(readFileSync(join(DEPLOY, 'compose.production.yml'), 'utf8'), { merge: true }) as Compose;
  const services = Object.entries(compose.services);
  const withRole = (role: string) => services.filter(([, s]) => s.environment?.ROLES === role).map(([name]) => name);
  const sources = [...readFileSync(join(DEPLOY, 'nats/accounts.conf'), 'utf8').matchAll(/^\s*user: scraper-([a-z0-9-]+)$/gm)].map((m) => m[1]!);
  let dir: string;
  let secrets: string;
  const secret = (name: string) => readFileSync(join(secrets, name), 'utf8').trim();
  const children: Child[] = [];

  beforeAll(() => {
    // make-secrets.sh writes next to itself: run a copy.
    dir = mkdtempSync(join(tmpdir(), 'navimpact-compose-'));
    mkdirSync(join(dir, 'compose'));
    copyFileSync(join(DEPLOY, 'compose/make-secrets.sh'), join(dir, 'compose/make-secrets.sh'));
    execFileSync('sh', [join(dir, 'compose/make-secrets.sh')], { stdio: 'ignore' });
    secrets = join(dir, 'compose/secrets');
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });

  it('compose - every service restarts by itself; two gateways, two relays, an invalidator, ingest, a scraper per source, three NATS nodes', () => {
    for (const [name, s] of services) expect(s.restart, name).toBe('unless-stopped');
    expect(withRole('gateway')).toHaveLength(2);
    expect(withRole('relay')).toHaveLength(2);
    expect(withRole('invalidator')).toHaveLength(1);
    expect(withRole('ingest')).toHaveLength(1);
    for (const role of ['gateway', 'relay', 'invalidator', 'ingest']) for (const name of withRole(role)) expect(compose.services[name]!.environment!.NATS_STREAM_REPLICAS).toBe('3');
    expect(sources.length).toBeGreaterThanOrEqual(2);
    for (const source of sources) expect(compose.services[`scraper-${source}`]?.command).toEqual(['npm', 'run', 'scrape', '--', '--source', source]);
    const nats = services.filter(([, s]) => s.image?.startsWith('nats:'));
    expect(nats.map(([name]) => name)).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const [name, s] of nats) {
      expect(s.command!.slice(0, 3)).toEqual(['nats-server', '-c', '/etc/nats/cluster.conf']);
      expect(s.command![s.command!.indexOf('--routes') + 1]!.split(',')).toHaveLength(3);
      expect(s.volumes).toContain('./nats:/etc/nats:ro');
      expect(s.environment!.NATS_SERVER_NAME).toBe(name);
    }
  });

  it('compose - scrapers share a network with NATS only; Postgres and Redis are not on it', () => {
    for (const source of sources) expect(compose.services[`scraper-${source}`]!.networks).toEqual(['bus']);
    const onBus = services.filter(([, s]) => s.networks?.includes('bus')).map(([name]) => name);
    expect(onBus).not.toContain('postgres');
    expect(onBus).not.toContain('redis');
    expect(onBus).toEqual(expect.arrayContaining(['nats-1', 'nats-2', 'nats-3']));
  });

  it('compose - no secret in an environment: passwords and credentialed URLs come from files', () => {
    for (const [name, s] of services) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        expect(key, `${name} ${key}`).not.toMatch(/PASSWORD$|SECRET$|^DATABASE_URL$|^REDIS_URL$/);
        expect(String(value), `${name} ${key}`).not.toMatch(/\/\/[^/@\s]*:[^/@\s]+@/);
        if (key.endsWith('_FILE')) expect(s.secrets, `${name} mounts the secret ${key} reads`).toContain(String(value).replace('/run/secrets/', ''));
      }
    }
    // Every secret is a file make-secrets.sh creates.
    const made = new Set(readdirSync(secrets));
    for (const [name, { file }] of Object.entries(compose.secrets)) {
      expect(file).toBe(`./compose/secrets/${name}`);
      expect(made.has(name), `make-secrets.sh creates ${name}`).toBe(true);
    }
    // nats-server gets every password accounts.conf names.
    const accounts = readFileSync(join(DEPLOY, 'nats/accounts.conf'), 'utf8');
    for (const [, variable] of accounts.matchAll(/password: \$([A-Z0-9_]+)/g)) expect(compose.services['nats-1']!.secrets).toContain(variable);
  });

  it('compose - make-secrets.sh: secrets that agree with each other, kept on a second run, in a private folder', () => {
    expect(passwordOf(secret('DATABASE_URL'))).toBe(secret('NAVIMPACT_DB_PASSWORD'));
    expect(new URL(secret('DATABASE_URL')).username).toBe('navimpact');
    expect(passwordOf(secret('REDIS_URL'))).toBe(secret('REDIS_PASSWORD'));
    expect(secret('REDIS_ACL')).toBe(`user default on #${createHash('sha256').update(secret('REDIS_PASSWORD')).digest('hex')} ~* &* +@all`);
    const servers = secret('NATS_URL').split(',');
    expect(servers.map((u) => new URL(u).host)).toEqual(['nats-1:4222', 'nats-2:4222', 'nats-3:4222']);
    for (const u of servers) expect(passwordOf(u)).toBe(secret('NAVIMPACT_NATS_PASSWORD'));
    expect(Buffer.byteLength(secret('JWT_SECRET'))).toBeGreaterThanOrEqual(32);
    const before = readdirSync(secrets).map((f) => [f, secret(f)]);
    execFileSync('sh', [join(dir, 'compose/make-secrets.sh')], { stdio: 'ignore' });
    expect(readdirSync(secrets).map((f) => [f, secret(f)])).toEqual(before);
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
  });

  it('compose - Redis on the shipped redis.conf: the password is required, volatile-lru within maxmemory', async () => {
    const port = await freePort();
    const conf = readFileSync(join(DEPLOY, 'compose/redis.conf'), 'utf8').replace('/run/secrets/REDIS_ACL', join(secrets, 'REDIS_ACL'));
    writeFileSync(join(dir, 'redis.conf'), `${conf}\nport ${port}\nbind 127.0.0.1\ndir ${dir}\n`);
    const server = start('redis-server', [join(dir, 'redis.conf')]);
    children.push(server);
    await server.waitFor((l) => l.includes('Ready to accept connections'), 20_000, 'redis-server ready');
    // Without the password: refused.
    expect(execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' })).toMatch(/NOAUTH/);
    const url = new URL(secret('REDIS_URL'));
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const redis = new Redis(url.toString());
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'volatile-lru']);
      expect(await redis.config('GET', 'maxmemory')).toEqual(['maxmemory', String(256 * 1024 * 1024)]);
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    } finally {
      redis.disconnect();
    }
  });

  it('compose - a NATS node on cluster.conf, its passwords exported from the secret files: the service and each scraper log in', async () => {
    // nats-server parses a `$VARIABLE` that starts with a digit as a number and refuses to
    // start (a random hex password did, in CI): every NATS password starts with a letter.
    for (const name of ['NAVIMPACT_NATS_PASSWORD', 'SCRAPER_GRANTCONNECT_NATS_PASSWORD', 'SCRAPER_VIC_GOV_AU_NATS_PASSWORD']) expect(secret(name)).toMatch(/^[a-z]/i);
    const [port, routes, monitor] = await Promise.all([freePort(), freePort(), freePort()]);
    mkdirSync(join(dir, 'nats'));
    const cluster = readFileSync(join(DEPLOY, 'nats/cluster.conf'), 'utf8')
      .replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`)
      .replace(/^http: .*$/m, `http: 127.0.0.1:${monitor}`)
      .replace(/store_dir: .*$/m, `store_dir: ${JSON.stringify(join(dir, 'nats-store'))}`)
      .replace(/^  listen: 0\.0\.0\.0:6222$/m, `  listen: 127.0.0.1:${routes}`);
    expect(cluster).not.toMatch(/0\.0\.0\.0/);
    writeFileSync(join(dir, 'nats/cluster.conf'), cluster);
    copyFileSync(join(DEPLOY, 'nats/accounts.conf'), join(dir, 'nats/accounts.conf'));
    const server = start('sh', [join(DEPLOY, 'compose/env-from-secrets.sh'), 'nats-server', '-c', join(dir, 'nats/cluster.conf'), '--routes', `nats://127.0.0.1:${routes}`], {
      env: { PATH: process.env.PATH, SECRETS_DIR: secrets, NATS_SERVER_NAME: 'nats-1' },
    });
    children.push(server);
    await server.waitFor((l) => l.includes('Server is ready'), 20_000, 'nats-server ready');
    // The service, as it connects: NATS_URL with the credentials in each server's URL.
    const natsUrl = secret('NATS_URL').replace(/@nats-\d:4222/g, `@127.0.0.1:${port}`);
    const service = await connectNats(natsUrl, 'compose-test', testLog);
    await service.flush();
    await service.close();
    for (const source of sources) {
      const variable = `SCRAPER_${source.toUpperCase().replace(/-/g, '_')}_NATS_PASSWORD`;
      const config = loadScrapeConfig({ NATS_URL: `nats://127.0.0.1:${port}`, NATS_USER: `scraper-${source}`, NATS_PASSWORD_FILE: join(secrets, variable), SCRAPER_CONTACT: 'ops@example.org' });
      const scraper = await connect({ ...natsOptions(config, source), reconnect: false });
      await scraper.flush();
      await scraper.close();
    }
    await expect(connect({ servers: `nats://scraper-${sources[0]}:wrong@127.0.0.1:${port}`, reconnect: false })).rejects.toThrow(/authorization/i);
  });
});
