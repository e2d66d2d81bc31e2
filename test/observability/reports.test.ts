/**
 * Issue 10 item 11: the handled errors a person must see reach Sentry, tagged with role,
 * release and log code, and rate-limited (the same error at most once per
 * SENTRY_REPORT_INTERVAL). Real processes (`src/main.ts`) with SENTRY_DSN pointed at a
 * local stand-in for Sentry's ingest (test/support/sentry.ts), as the crash test does:
 * - REST 500s (a flood of them is one event), and a failure of the gateway's feed;
 * - a loop retrying past its threshold: ingest (a flood of retries is one event), the
 *   invalidator (Redis unreachable), the relay (NATS gone with a change to publish).
 */
import { randomUUID } from 'node:crypto';
import { connect as natsConnect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, token, type Stack } from '../gateway/harness.js';
import { ingestFixtures, publish, query, validRecord } from '../ingest/harness.js';
import { freePort } from '../support/ports.js';
import type { Child } from '../support/process.js';
import { FakeSentry, type Envelope } from '../support/sentry.js';
import { hasCode } from '../support/service.js';

const fx = ingestFixtures();

interface SentryEvent {
  release?: string;
  tags?: Record<string, string>;
  extra?: Record<string, unknown>;
  exception?: { values?: { type?: string; value?: string }[] };
}

function event(e: Envelope): SentryEvent | undefined {
  return e.items.find((i) => i.header.type === 'event')?.payload as SentryEvent | undefined;
}

const withCode = (code: string) => (e: Envelope) => event(e)?.tags?.code === code;

let sentry: FakeSentry | undefined;
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await sentry?.close();
  sentry = undefined;
});

async function fakeSentry(): Promise<{ sentry: FakeSentry; env: Record<string, string>; release: string }> {
  sentry = new FakeSentry();
  const port = await sentry.listen();
  const release = `navimpact-live@test-${randomUUID().slice(0, 8)}`;
  return { sentry, release, env: { SENTRY_DSN: `http://publickey@127.0.0.1:${port}/42`, RELEASE: release, SENTRY_REPORT_INTERVAL: '60s' } };
}

/** Stops `child` with SIGTERM: its shutdown flushes what it reported. */
async function stopped(child: Child): Promise<void> {
  await child.kill('SIGTERM');
}

describe('sentry - handled errors', () => {
  it('sentry - 40 REST 500s on two routes are one event (code HttpFailed, role gateway, release), and a feed failure is reported', async () => {
    const s = await fakeSentry();
    stack = await startStack({ ...s.env });
    // Every read of the table fails from now on: each request is a 500.
    await stack.sql('ALTER TABLE grants RENAME TO grants_gone');
    for (let i = 0; i < 20; i++) {
      const [one, list] = await Promise.all([
        fetch(`http://127.0.0.1:${stack.port}/v1/grants/${randomUUID()}`, { headers: { authorization: `Bearer ${await bearer()}` } }),
        fetch(`http://127.0.0.1:${stack.port}/v1/grants?limit=${1 + i}`, { headers: { authorization: `Bearer ${await bearer()}` } }),
      ]);
      expect([one.status, list.status]).toEqual([500, 500]);
    }
    const first = event(await s.sentry.next(withCode('HttpFailed')))!;
    expect(first.tags?.role).toBe('gateway');
    expect(first.release).toBe(s.release);
    expect(first.exception?.values?.at(-1)?.value).toContain('grants');

    // The feed fails when its stream is deleted; by the time its event arrives, every
    // event of the 500s sent before it has too.
    const nc = await natsConnect({ servers: stack.nats.url });
    await (await nc.jetstreamManager()).streams.delete('GRANTS');
    await nc.close();
    const feed = event(await s.sentry.next(withCode('GatewayFeedFailed')))!;
    expect(feed.tags?.role).toBe('gateway');
    expect(feed.release).toBe(s.release);
    await stopped(stack.gateway);
    expect(s.sentry.envelopes.filter(withCode('HttpFailed')).length).toBe(1);
  }, 90_000);

  it('sentry - ingest retrying a batch past 5 tries is one event (code IngestBatchRetry, role ingest) however many tries follow', async () => {
    const s = await fakeSentry();
    const db = await fx.database();
    const ingest = fx.ingest(db.url, { ...s.env, INGEST_RETRY_MAX: '100ms' });
    await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    await query(db.url, 'ALTER TABLE grants RENAME TO grants_gone');
    await publish(fx.nats.url, [[{ source: 'sentry', payload: validRecord('s-1', 1) }]]);
    const reported = event(await s.sentry.next(withCode('IngestBatchRetry')))!;
    expect(reported.tags?.role).toBe('ingest');
    expect(reported.release).toBe(s.release);
    expect(reported.extra?.attempt).toBeGreaterThanOrEqual(5);
    // Many more tries, each logged; none sent again within the interval.
    await ingest.waitFor(() => ingest.lines.filter(hasCode('IngestBatchRetry')).length >= 30, 30_000, '30 retries');
    await stopped(ingest);
    expect(s.sentry.envelopes.filter(withCode('IngestBatchRetry')).length).toBe(1);
  }, 90_000);

  it('sentry - the invalidator failing to reach Redis past 5 tries is reported (code InvalidatorRedisError, role invalidator)', async () => {
    const s = await fakeSentry();
    const db = await fx.database();
    const nobody = await freePort();
    fx.service({ ...s.env, DATABASE_URL: db.url, ROLES: 'invalidator', REDIS_URL: `redis://127.0.0.1:${nobody}`, CACHE_PREFIX: `t${randomUUID().slice(0, 8)}:` });
    const reported = event(await s.sentry.next(withCode('InvalidatorRedisError')))!;
    expect(reported.tags?.role).toBe('invalidator');
    expect(reported.release).toBe(s.release);
    expect(reported.extra?.attempt).toBeGreaterThanOrEqual(5);
  }, 90_000);

  it('sentry - the relay failing to publish past 5 tries is reported (its loop\'s code, role relay)', async () => {
    const s = await fakeSentry();
    const db = await fx.database();
    const relay = fx.service({ ...s.env, DATABASE_URL: db.url, ROLES: 'relay', RELAY_LEADER_POLL: '250ms' });
    await relay.waitFor(hasCode('RelayLeaderAcquired'), 30_000, 'relay leading');
    await fx.nats.down();
    await query(db.url, "INSERT INTO grants (source, external_id, title) VALUES ('sentry', 'r-1', 'Unpublished')");
    // Publishing times out (5 s a try) in the publish loop, or the next campaign's stream
    // check does: either loop of the relay reports at its fifth try in a row.
    const reported = event(await s.sentry.next((e) => ['RelayPublishFailed', 'RelayDatabaseError'].includes(event(e)?.tags?.code ?? '')))!;
    expect(reported.tags?.role).toBe('relay');
    expect(reported.release).toBe(s.release);
    expect(reported.extra?.attempt).toBeGreaterThanOrEqual(5);
  }, 120_000);
});

function bearer(): Promise<string> {
  return token({ sub: 'sentry-test', ttlSec: 600 });
}
