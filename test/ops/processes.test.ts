/**
 * Every process observable (CONTRACT v1.1 sections 1 and 6): with each role in a process of
 * its own, each answers `/health` with the checks of its own roles (statuses only without a
 * monitor token) and `/metrics` with its own series, and a process without the gateway
 * answers 503 when NATS, which its roles need, is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from '../gateway/harness.js';
import { hasCode, startService } from '../support/service.js';
import { freePort } from '../support/ports.js';
import { families, sample, startOpsStack, type OpsStack, type Role } from './stack.js';

let stack: OpsStack;

beforeAll(async () => {
  stack = await startOpsStack();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const CHECKS: Record<Role, string[]> = {
  gateway: ['database', 'feed', 'nats', 'redis', 'relay', 'scrapers'],
  relay: ['database', 'nats', 'relay'],
  invalidator: ['invalidator', 'nats'],
  ingest: ['database', 'ingest', 'nats'],
};

/** Series each role's process must show, and series of other roles it must not. */
const OWN: Record<Role, string[]> = {
  gateway: ['navimpact_ws_connections', 'navimpact_ws_messages_sent_total', 'navimpact_feed_live', 'navimpact_scraper_up', 'navimpact_cache_requests_total'],
  relay: ['navimpact_relay_leader', 'navimpact_relay_lag_seconds', 'navimpact_relay_backlog_changes', 'navimpact_relay_backlog_age_seconds', 'navimpact_relay_stream_seq'],
  invalidator: ['navimpact_cache_invalidation_watermark', 'navimpact_invalidator_behind_events', 'navimpact_invalidator_lag_seconds'],
  ingest: ['navimpact_ingest_records_total', 'navimpact_ingest_batch_seconds'],
};
const EVERY = ['navimpact_process_start_time_seconds', 'navimpact_build_info', 'navimpact_db_pool_connections', 'navimpact_health_check', 'navimpact_http_requests_total', 'navimpact_http_request_duration_seconds', 'navimpact_ws_auth_failures_total'];

describe('ops - every role in its own process', () => {
  it.each(Object.keys(CHECKS) as Role[])('ops - the %s process answers /health with its own checks, details only for a monitor', async (role) => {
    const anonymous = await stack.get(role, '/health');
    expect(anonymous.status, anonymous.text).toBe(200);
    expect(Object.keys(anonymous.json.checks).sort()).toEqual(CHECKS[role]);
    for (const [name, check] of Object.entries(anonymous.json.checks)) expect(check, name).toEqual({ status: expect.any(String) });
    // A viewer, or a token that does not verify, sees no more than anyone.
    const viewer = await stack.get(role, '/health', await token({ sub: 'v' }));
    for (const check of Object.values(viewer.json.checks)) expect(Object.keys(check as object)).toEqual(['status']);
    expect((await stack.get(role, '/health', 'not-a-token')).status).toBe(200);

    const monitor = await stack.get(role, '/health', stack.monitor);
    expect(Object.keys(monitor.json.checks).sort()).toEqual(CHECKS[role]);
    expect(monitor.json.checks.nats).toMatchObject({ status: 'ok', server: expect.stringContaining('127.0.0.1'), latencyMs: expect.any(Number) });
    if (role === 'relay') expect(monitor.json.checks.relay).toMatchObject({ status: 'ok', role: 'leader', pending: expect.any(Number) });
    if (role === 'invalidator') expect(monitor.json.checks.invalidator).toMatchObject({ behindEvents: expect.any(Number), watermark: expect.any(Number) });
  });

  it.each(Object.keys(OWN) as Role[])('ops - the %s process answers /metrics with its own series only, to monitor and admin tokens', async (role) => {
    expect((await stack.get(role, '/metrics')).status).toBe(401);
    expect((await stack.get(role, '/metrics', await token({ sub: 'v' }))).status).toBe(403);
    const res = await stack.get(role, '/metrics', stack.monitor);
    expect(res.status).toBe(200);
    const declared = families(res.text);
    for (const name of [...EVERY, ...OWN[role]]) expect(declared.has(name), `${role} shows ${name}`).toBe(true);
    for (const other of Object.keys(OWN) as Role[]) {
      if (other === role) continue;
      for (const name of OWN[other]) expect(declared.has(name), `${role} does not show ${name}`).toBe(false);
    }
    expect(sample(res.text, 'navimpact_health_check', 'check="nats",status="ok"')).toBe(1);
    expect(sample(res.text, 'navimpact_build_info', `release="navimpact-live@0.1.0",roles="${role}"`)).toBe(1);
    expect(sample(res.text, 'navimpact_process_start_time_seconds')).toBeGreaterThan(Date.now() / 1_000 - 600);
    if (role === 'relay') expect(sample(res.text, 'navimpact_relay_leader')).toBe(1);
    if (role === 'gateway') expect(sample(res.text, 'navimpact_feed_live')).toBe(1);
    const admin = await stack.get(role, '/metrics', await token({ sub: 'a', role: 'admin' }));
    expect(admin.status).toBe(200);
  });

  it('ops - REST requests are counted by route and status, with their latency by route', async () => {
    const viewer = await token({ sub: 'rest' });
    const id = (await stack.sql(`INSERT INTO grants (title) VALUES ('Latency') RETURNING id`)).rows[0].id as string;
    for (let i = 0; i < 3; i++) expect((await stack.get('gateway', `/v1/grants/${id}`, viewer)).status).toBe(200);
    expect((await stack.get('gateway', '/v1/grants/not-a-uuid', viewer)).status).toBe(400);
    const text = (await stack.get('gateway', '/metrics', stack.monitor)).text;
    expect(sample(text, 'navimpact_http_requests_total', 'route="grant",status="200"')).toBe(3);
    expect(sample(text, 'navimpact_http_requests_total', 'route="grant",status="400"')).toBe(1);
    expect(sample(text, 'navimpact_http_request_duration_seconds_count', 'route="grant"')).toBe(4);
    expect(sample(text, 'navimpact_http_request_duration_seconds_bucket', 'le="+Inf",route="grant"')).toBe(4);
  });

  it('ops - a process without the gateway answers 503 while NATS is down, and 200 when it is back', async () => {
    await stack.nats.down('SIGKILL');
    try {
      await expect.poll(async () => (await stack.get('ingest', '/health')).status, { timeout: 15_000, interval: 200 }).toBe(503);
      const monitor = await stack.get('ingest', '/health', stack.monitor);
      expect(monitor.json.checks.nats.status).toBe('down');
      expect(monitor.json.checks.database.status).toBe('ok');
      // /metrics still answers, and says which check is down.
      const metrics = await stack.get('ingest', '/metrics', stack.monitor);
      expect(sample(metrics.text, 'navimpact_health_check', 'check="nats",status="down"')).toBe(1);
    } finally {
      await stack.nats.up();
    }
    await expect.poll(async () => (await stack.get('ingest', '/health')).status, { timeout: 30_000, interval: 200 }).toBe(200);
  }, 60_000);
});

describe('ops - a process without a token key', () => {
  it('ops - outside production, starts, answers /health with statuses and refuses /metrics naming the variables', async () => {
    const port = await freePort();
    const child = startService({ ROLES: 'invalidator', NATS_URL: stack.nats.url, CACHE_PREFIX: `${stack.prefix}k:`, PORT: String(port) });
    try {
      await child.waitFor(hasCode('HttpListening'), 30_000);
      expect(child.lines.some(hasCode('MetricsLocked'))).toBe(true);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${stack.monitor}` } });
      expect(metrics.status).toBe(403);
      expect(await metrics.text()).toContain('JWT_SECRET');
    } finally {
      await child.kill('SIGKILL');
    }
  });
});
