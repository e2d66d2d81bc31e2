/**
 * The usual choice: Fastify 5 with ioredis and pg, `GET /v1/grants/:id` read through Redis
 * the way its users write it (Fastify's docs and ioredis's README):
 * - `Fastify({ logger: false })` (the documented production setting for a benchmark; the
 *   default is already off), the params validated by a JSON schema (`format: 'uuid'`),
 *   async handlers;
 * - one ioredis client with its defaults (one connection, commands pipelined on it as they
 *   come), `GET grant:<id>`; on a miss, one `SELECT` through a `pg.Pool` of the gateway's
 *   size, then `SET grant:<id> <version>\n<json> EX <ttl>`, and the answer;
 * - with AUTH=1, an `onRequest` hook verifying the Bearer token with jose `jwtVerify` on
 *   every request (HS256, the gateway's secret), as users write it: no cache of verified
 *   tokens.
 * The answer is the gateway's: the same Grant JSON (src/domain/grant.ts maps the row),
 * `ETag` from the version, 304 on a matching `If-None-Match`, `Cache-Control: no-cache`,
 * `Vary: Origin`.
 *
 * Hits and misses are counted in the process; `GET /__bench/stats` (outside the hooked
 * scope) returns them.
 *
 * Env: PORT, REDIS_URL, DATABASE_URL, POOL_SIZE, CACHE_TTL_SECONDS, AUTH, JWT_SECRET.
 * Prints `{"code":"BenchListening","port":N}`.
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { GrantFromRow, type GrantRow } from '../../../src/domain/grant.js';

const env = process.env;
const port = Number(env.PORT ?? 0);
const auth = env.AUTH === '1';
const ttlSeconds = Number(env.CACHE_TTL_SECONDS ?? 300);
const secret = new TextEncoder().encode(env.JWT_SECRET ?? '');

// DATE columns as the text Postgres sends ('YYYY-MM-DD'), as the Grant JSON has them.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.POOL_SIZE ?? 10) });
const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379');

const COLUMNS = `id, source, external_id, title, description, agency, url, min_amount, max_amount,
  currency, open_date, close_date, status, categories, locations, vic_outcome_domain, version, updated_at`;

const stats = { hits: 0, misses: 0, notFound: 0, unauthorized: 0 };

const app = Fastify({ logger: false });

app.get('/__bench/stats', async () => stats);

async function verifyBearer(req: FastifyRequest, reply: FastifyReply) {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) {
    stats.unauthorized++;
    return reply.code(401).send({ error: { code: 'missing', message: 'a bearer token is required' } });
  }
  try {
    await jwtVerify(header.slice(7), secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
  } catch {
    stats.unauthorized++;
    return reply.code(401).send({ error: { code: 'invalid_token', message: 'token refused' } });
  }
}

await app.register(async (api) => {
  if (auth) api.addHook('onRequest', verifyBearer);

  api.get<{ Params: { id: string } }>(
    '/v1/grants/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } } },
    async (req, reply) => {
      const id = req.params.id.toLowerCase();
      const key = `grant:${id}`;
      let version: string;
      let json: string;
      const cached = await redis.get(key);
      if (cached !== null) {
        stats.hits++;
        const nl = cached.indexOf('\n');
        version = cached.slice(0, nl);
        json = cached.slice(nl + 1);
      } else {
        stats.misses++;
        const { rows } = await pool.query<GrantRow>(`SELECT ${COLUMNS} FROM grants WHERE id = $1`, [id]);
        if (!rows[0]) {
          stats.notFound++;
          return reply.code(404).send({ error: { code: 'not_found', message: 'no grant with this id' } });
        }
        const grant = GrantFromRow.parse(rows[0]);
        version = String(grant.version);
        json = JSON.stringify(grant);
        await redis.set(key, `${version}\n${json}`, 'EX', ttlSeconds);
      }
      const etag = `"${version}"`;
      reply.header('vary', 'Origin').header('etag', etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type('application/json').send(json);
    },
  );
});

const address = await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`${JSON.stringify({ code: 'BenchListening', port: Number(new URL(address).port), address })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => {
    void app.close().finally(() => process.exit(0));
  });
