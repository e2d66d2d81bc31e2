/**
 * REST tests run the stack of the gateway tests (fresh database, private nats-server, relay
 * and gateway processes) with the invalidator in the gateway's process and a cache prefix of
 * their own, so they can share a Redis with other tests.
 */
import { randomUUID } from 'node:crypto';
import { startStack, token, type Stack } from '../gateway/harness.js';
import { hasCode } from '../support/service.js';

export { token };

export interface RestStack extends Stack {
  prefix: string;
  get(path: string, o?: { token?: string | null; headers?: Record<string, string>; signal?: AbortSignal }): Promise<HttpAnswer>;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function startRestStack(env: Record<string, string> = {}): Promise<RestStack> {
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  const roles = env.ROLES ?? 'gateway,invalidator';
  const stack = await startStack({ ROLES: roles, CACHE_PREFIX: prefix, CACHE_TOMBSTONE_TTL: '4s', REDIS_URL: 'redis://127.0.0.1:6379', ...env });
  // With an invalidator, tests start once it has set the cache's watermark.
  if (roles.includes('invalidator')) await stack.gateway.waitFor((l) => hasCode('InvalidatorReset')(l) || hasCode('InvalidatorResumed')(l), 30_000, 'the invalidator');
  const viewer = await token({ sub: 'rest-tests', ttlSec: 3_600 });
  return Object.assign(stack, {
    prefix,
    async get(path: string, o: { token?: string | null; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<HttpAnswer> {
      const headers: Record<string, string> = { ...o.headers };
      const t = o.token === undefined ? viewer : o.token;
      if (t !== null) headers.authorization = `Bearer ${t}`;
      const res = await fetch(`http://127.0.0.1:${stack.port}${path}`, { headers, ...(o.signal ? { signal: o.signal } : {}) });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
  });
}

/** Inserts `n` grants; returns their ids in insertion order. */
export async function insertGrants(stack: Stack, n: number, fields: Record<string, string> = {}): Promise<string[]> {
  const { rows } = await stack.sql(
    `INSERT INTO grants (source, external_id, title, description, min_amount, max_amount, open_date, close_date, status, locations, vic_outcome_domain, agency)
     SELECT 'test', 'g-' || i || '-' || $2, 'Grant ' || i, 'About grant ' || i, 1000.50, 5000 + i, DATE '2026-01-01', DATE '2026-12-31',
            ${fields.status ?? `'open'`}, ${fields.locations ?? `ARRAY['VIC']`}, ${fields.vic ?? `'education'`}, 'Agency'
       FROM generate_series(1, $1) AS i
     RETURNING id`,
    [n, randomUUID()],
  );
  return rows.map((r: { id: string }) => r.id);
}
