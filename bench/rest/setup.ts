/**
 * Everything the runs stand on, in the order it is made: a fresh database with `--grants`
 * rows, a private nats-server and two private redis-servers, the gateway (waited for until
 * its invalidator has reset) and its cache warmed, its answers captured for the bare
 * server, then the comparison servers, checked to answer the same bytes and warmed too.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import pg from 'pg';
import { PrivateNats } from '../common/nats.js';
import { BenchDatabase, migrate } from '../common/postgres.js';
import { freePort } from '../common/processes.js';
import type { PrivateRedis } from '../common/redis.js';
import { children, dirs, privateRedis, startServer, type Server } from './children.js';
import { describeSetup, type CapturedAnswer } from './describe.js';
import { AUTOMATIC, answerBytes, getAll, header, statusCounts } from './http.js';
import { CFG, JWT_SECRET, args, log } from './options.js';
import { cacheCounters } from './stats.js';

/** What set-up made; filled in as it goes, so that every exit path can undo what exists. */
export interface Env {
  db?: BenchDatabase;
  nats?: PrivateNats;
  servers: Record<string, Server>;
  redises: PrivateRedis[];
}

/** What the runs need from set-up, and the report's `setup` and `answersCheck`. */
export interface Prepared {
  paths: string[];
  viewerToken: string;
  monitorToken: string;
  setup: Record<string, unknown>;
  answersCheck: Record<string, unknown>;
}

/** Makes the whole environment into `env`, keeping its files in `tmp`. */
export async function setUp(env: Env, tmp: string): Promise<Prepared> {
  const { servers, redises } = env;
  const db = await BenchDatabase.create(args['pg-url']!, 'bench_rest');
  env.db = db;
  migrate(db.url);
  const ids = await seed(db.url);
  const paths = ids.map((id) => `/v1/grants/${id}`);
  const nats = await PrivateNats.start();
  env.nats = nats;
  children.push(nats.proc);
  dirs.push(nats.store);
  const gwRedis = await privateRedis('redis-gateway');
  const fRedis = await privateRedis('redis-fastify');
  redises.push(gwRedis, fRedis);
  const viewerToken = await token('bench-rest');
  const monitorToken = await token('bench-rest-monitor', 'monitor');
  log(`database ${db.name} with ${CFG.grants} grants; nats ${nats.port}, redis ${gwRedis.port} (gateway) ${fRedis.port} (fastify)`);

  // The bare server answers the gateway's captured bytes: the gateway is always started.
  const gw = await startServer(
    'gateway',
    'src/main.ts',
    {
      // As deployed: default settings (pool, cache lifetime, ...) but for what a bench must set.
      ROLES: CFG.roles,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      DATABASE_URL: db.url,
      // One token drives the whole bench: the per-subject limit (REST_RATE_LIMIT) is not what it measures.
      REST_RATE_LIMIT: '1000000',
      NATS_URL: nats.url,
      REDIS_URL: gwRedis.url,
      JWT_SECRET,
      APP_ENV: 'production',
      LOG_LEVEL: 'info',
    },
    'GatewayListening',
  );
  gw.redis = gwRedis;
  servers.gateway = gw;
  // The cache serves entries once the invalidator has set its watermark.
  await gw.proc.waitFor((l) => l.includes('"code":"InvalidatorReset"'), 60_000);
  log(`gateway on ${gw.port} (pid ${gw.pid}), invalidator reset`);
  const auth = { authorization: `Bearer ${viewerToken}` };
  // Warm the gateway's cache: the first pass fills, the second must hit.
  const fill = await getAll(servers.gateway!.port, paths, auth);
  const c0 = await cacheCounters(servers.gateway!, monitorToken);
  const second = await getAll(servers.gateway!.port, paths, auth);
  const c1 = await cacheCounters(servers.gateway!, monitorToken);
  if (Object.keys(statusCounts(second)).join() !== '200') throw new Error(`gateway warm-up answered ${JSON.stringify(statusCounts(second))}: ${second.find((x) => x.status !== 200)?.body}`);
  log(`gateway warm-up: fill pass ${JSON.stringify(statusCounts(fill))}, second pass hits ${c1.hit - c0.hit}/${ids.length}`);

  // Capture the gateway's answers for the bare server.
  const answers: Record<string, CapturedAnswer> = {};
  for (const [i, x] of second.entries()) {
    const headers: [string, string][] = [];
    for (let h = 0; h < x.rawHeaders.length; h += 2) if (!AUTOMATIC.has(x.rawHeaders[h]!.toLowerCase())) headers.push([x.rawHeaders[h]!, x.rawHeaders[h + 1]!]);
    answers[ids[i]!] = { status: `${x.status} ${x.statusMessage}`, headers, body: x.body };
  }
  const answersFile = join(tmp, 'answers.json');
  writeFileSync(answersFile, JSON.stringify(answers));
  const setup = describeSetup(ids.length, answers[ids[0]!]!, { fillPass: statusCounts(fill), secondPassHits: c1.hit - c0.hit, secondPassMisses: c1.miss - c0.miss });

  if (CFG.variants.includes('bare')) servers.bare = await startServer('bare', 'bench/rest/servers/bare.ts', { PORT: '0', ANSWERS: answersFile });
  const fastifyEnv = { PORT: '0', REDIS_URL: fRedis.url, DATABASE_URL: db.url, POOL_SIZE: String(CFG.poolSize), CACHE_TTL_SECONDS: String(CFG.cacheTtlSeconds), JWT_SECRET, NODE_ENV: 'production' };
  if (CFG.variants.includes('fastify')) servers.fastify = { ...(await startServer('fastify', 'bench/rest/servers/fastify.ts', { ...fastifyEnv, AUTH: '0' })), redis: fRedis };
  if (CFG.variants.includes('fastifyAuth')) servers.fastifyAuth = { ...(await startServer('fastifyAuth', 'bench/rest/servers/fastify.ts', { ...fastifyEnv, AUTH: '1' })), redis: fRedis };

  // Same answers everywhere: bodies and ETags equal to the gateway's for a sample of ids.
  const check: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(servers)) {
    if (name === 'gateway') continue;
    const got = await getAll(s.port, paths.slice(0, 50), name === 'fastifyAuth' ? auth : {});
    // A Fastify server's first pass fills its cache; read again for the cached answer.
    const again = name.startsWith('fastify') ? await getAll(s.port, paths.slice(0, 50), name === 'fastifyAuth' ? auth : {}) : got;
    const same = again.every((x, i) => x.status === 200 && x.body === second[i]!.body && header(x, 'etag') === header(second[i]!, 'etag'));
    check[name] = { sameBodyAndEtagAsGateway: same, bytesGatewayVsThis: [answerBytes(second[0]!), answerBytes(again[0]!)] };
    if (!same) log(`warning: ${name} answers differ from the gateway's: ${again[0]!.body.slice(0, 200)}`);
  }
  // Fill Fastify's cache for every id (one server fills the shared redis-server).
  for (const name of ['fastify', 'fastifyAuth']) {
    const s = servers[name];
    if (s) await getAll(s.port, paths, name === 'fastifyAuth' ? auth : {});
  }
  return { paths, viewerToken, monitorToken, setup, answersCheck: check };
}

async function seed(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const description = 'Funding for community organisations to deliver local programs. '.repeat(Math.ceil(CFG.descriptionChars / 64)).slice(0, CFG.descriptionChars);
    await c.query(
      `INSERT INTO grants (source, external_id, title, description, agency, url, min_amount, max_amount, status, open_date, close_date, locations, categories, vic_outcome_domain)
       SELECT 'bench', 'r' || g, 'Bench grant ' || g, $2, 'Department of Bench Marking', 'https://example.org/grants/' || g, 1000, 50000 + g, 'open',
              '2026-01-01', '2026-12-31', '{VIC,NSW}', '{community,health}', 'community'
       FROM generate_series(1, $1::int) g`,
      [CFG.grants, description],
    );
    // The ids spread over the table, not its first rows only.
    const { rows } = await c.query<{ id: string }>('SELECT id FROM grants ORDER BY random() LIMIT $1', [CFG.ids]);
    return rows.map((r) => r.id);
  } finally {
    await c.end();
  }
}

const token = (sub: string, role?: string) =>
  new SignJWT(role ? { role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 4 * 3_600)
    .sign(new TextEncoder().encode(JWT_SECRET));
