/**
 * Ingest under faults (acceptance points 3 and 4): the ingest process killed with SIGKILL
 * while batches are in flight, and a private Postgres restarted under it. In both, every
 * record must end up in Postgres exactly once: each row at version 1 and exactly one
 * insert event per record in the change log (a record written twice with equal content
 * makes no second event, so the rows' content is checked too).
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import pg from 'pg';
import { PrivatePostgres } from '../support/postgres.js';
import { hasCode } from '../support/service.js';
import { count, ingestFixtures, publish, query, until, validRecord, waitIngested, type Outgoing } from './harness.js';

const fx = ingestFixtures();

function workload(scrapers: number, per: number): { batches: Outgoing[][]; titles: Map<string, string> } {
  const titles = new Map<string, string>();
  const batches = Array.from({ length: scrapers }, (_, s) =>
    Array.from({ length: per }, (_, i) => {
      const payload = validRecord(`s${s}-r${i}`, i);
      titles.set(`s${s}-r${i}`, payload.title as string);
      return { source: `src-${s}`, payload };
    }),
  );
  return { batches, titles };
}

async function expectEachOnce(url: string, titles: Map<string, string>): Promise<void> {
  const rows = await query<{ external_id: string; title: string; version: string }>(url, 'SELECT external_id, title, version FROM grants');
  expect(rows.length).toBe(titles.size);
  for (const r of rows) {
    expect(titles.get(r.external_id)).toBe(r.title);
    expect(r.version, `${r.external_id} written once`).toBe('1');
  }
  expect(await count(url, "SELECT count(*) AS n FROM grant_changes WHERE op = 'insert'")).toBe(titles.size);
  expect(await count(url, "SELECT count(*) AS n FROM grant_changes WHERE op <> 'insert'")).toBe(0);
}

async function pendingAcks(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const info = await (await nc.jetstreamManager()).consumers.info('SCRAPE', 'ingest');
    return info.num_ack_pending;
  } finally {
    await nc.close();
  }
}

describe.sequential('ingest faults', () => {
  it('ingest faults - SIGKILL with batches in flight, then a restart: nothing lost, nothing doubled', async () => {
    const db = await fx.database();
    // A short ack wait so the killed process's records come back quickly.
    const env = { INGEST_ACK_WAIT: '2s', INGEST_BATCH_SIZE: '250', INGEST_CONCURRENCY: '2' };
    const first = fx.ingest(db.url, env);
    await first.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    const { batches, titles } = workload(4, 5_000);
    const publishing = publish(fx.nats.url, batches);
    const rows = () => count(db.url, 'SELECT count(*) AS n FROM grants');
    await until(async () => (await rows()) >= 3_000, 'some rows written');

    // Hold the table so the next upserts block mid-batch: sent, not committed.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE grants IN SHARE ROW EXCLUSIVE MODE');
    const blocked = async () =>
      query<{ pid: number }>(db.url, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'navimpact-ingest' AND wait_event_type = 'Lock'", [db.name]);
    await until(async () => (await blocked()).length > 0, 'an upsert blocked mid-batch', 30_000);
    await first.kill('SIGKILL');
    // The process is gone; its open transactions go with it (as when its host dies).
    await query(db.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'navimpact-ingest'", [db.name]);
    await locker.query('ROLLBACK');
    await locker.end();
    const atKill = await rows();
    const inFlight = await pendingAcks(fx.nats.url);
    expect(atKill).toBeLessThan(titles.size);
    expect(inFlight, 'records handed to the killed process and never acknowledged').toBeGreaterThan(0);

    const second = fx.ingest(db.url, env);
    await second.waitFor(hasCode('RoleStarted'), 30_000, 'second ingest started');
    await publishing;
    await waitIngested(fx.nats.url, 90_000);
    await expectEachOnce(db.url, titles);
    console.info(`ingest faults: killed at ${atKill}/${titles.size} rows with ${inFlight} records unacknowledged`);
  }, 120_000);

  it('ingest faults - a private Postgres restarted during ingest: ingest recovers by itself, nothing lost', async () => {
    const server = await PrivatePostgres.start();
    try {
      const url = server.url('ingest_faults');
      await fx.migrated(url); // the service creates the database on a fresh server
      const ingest = fx.ingest(url, { INGEST_RETRY_MAX: '1s', INGEST_ACK_WAIT: '10s', INGEST_BATCH_SIZE: '250' });
      await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
      const { batches, titles } = workload(4, 5_000);
      const publishing = publish(fx.nats.url, batches);
      const rows = () => count(url, 'SELECT count(*) AS n FROM grants');
      await until(async () => (await rows()) >= 3_000, 'some rows written');
      // Like a crash: connections dropped without goodbye, in-flight transactions lost.
      await server.restart('immediate');
      await ingest.waitFor(hasCode('IngestBatchRetry'), 30_000, 'ingest to notice the outage');
      await publishing;
      await waitIngested(fx.nats.url, 90_000);
      expect(ingest.running, 'ingest kept running').toBe(true);
      await ingest.waitFor(hasCode('IngestBatchRecovered'), 10_000, 'a held batch to go through');
      await expectEachOnce(url, titles);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
