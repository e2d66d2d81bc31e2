/**
 * Change capture under faults: the relay killed mid-load, a crash between publishing and
 * pruning, and a private nats-server and Postgres restarted mid-load. The audit trigger
 * (harness.ts) is the ground truth, since writers cannot always tell whether their commit
 * survived a broken connection.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import pg from 'pg';
import { PrivatePostgres } from '../support/postgres.js';
import { hasCode } from '../support/service.js';
import { testLog } from '../support/log.js';
import { ensureGrantsStream } from '../../src/bus/streams.js';
import { readBatch, readState } from '../../src/capture/changelog.js';
import { msgIdOf, publishChain } from '../../src/capture/publisher.js';
import { GrantFromRow } from '../../src/domain/grant.js';
import { captureFixtures, expectExactlyOnce, readAudit, readStream, runWorkload, seed } from './harness.js';

const fx = captureFixtures();
const sharedDatabase = () => fx.database();
const relay = (url: string) => fx.relay(url);

/** Progress of a workload, awaitable at a given number of finished transactions. */
function progress() {
  let done = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  return {
    tick: (n: number) => {
      done = n;
      for (const w of waiters.filter((w) => w.at <= done)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    reached: (at: number) => (done >= at ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ at, resolve }))),
  };
}

describe.sequential('capture under faults', () => {
  it('capture - relay SIGKILLed three times mid-load and restarted: exactly one event per change', async () => {
    const db = await sharedDatabase();
    let current = relay(db.url);
    await current.waitFor(hasCode('RelayLeaderAcquired'));
    const hot = await seed(db.url, 5);
    const p = progress();
    const load = runWorkload({ url: db.url, writers: 10, transactions: 400, hot, onProgress: p.tick });
    for (const at of [800, 1_800, 2_800]) {
      await p.reached(at);
      await current.kill('SIGKILL');
      current = relay(db.url);
      await current.waitFor(hasCode('RelayLeaderAcquired'));
    }
    expect((await load).committed).toBe(4_000);
    const audit = await readAudit(db.url);
    expectExactlyOnce(await readStream(fx.nats.url, audit.length), audit);
  }, 180_000);

  it('capture - a crash between the NATS ack and pruning the log republishes nothing', async () => {
    const db = await sharedDatabase();
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    await writer.query(
      "INSERT INTO grants (source, external_id, title) SELECT 'crash', 'c-' || g, 'Grant ' || g FROM generate_series(1, 10) g",
    );
    // Play the relay up to the crash: publish the first five changes, never prune them.
    const nc = await connect({ servers: fx.nats.url });
    await ensureGrantsStream(await nc.jetstreamManager(), { maxAgeMs: 3_600_000, replicas: 1 }, testLog);
    const state = await readState(writer);
    const changes = (await readBatch(writer, 5)).map((c, i) => ({
      event: { seq: i + 1, op: c.op, id: c.grantId, version: c.version, grant: GrantFromRow.parse(c.row), committedAt: c.changedAt.toISOString() },
      msgId: msgIdOf(state.epoch, c.logId),
    }));
    await publishChain(nc.jetstream(), 0, undefined, changes, 5_000);
    await nc.close();
    await writer.end();

    const r = relay(db.url);
    const reconciled = JSON.parse(await r.waitFor(hasCode('RelayReconciled'))) as { from: number; to: number; found: number };
    expect(reconciled).toMatchObject({ from: 0, to: 5, found: 5 });
    const audit = await readAudit(db.url);
    expectExactlyOnce(await readStream(fx.nats.url, audit.length), audit);
  });

  it('capture - private NATS and Postgres restarted mid-load: the relay recovers by itself, nothing lost', async () => {
    const server = await PrivatePostgres.start();
    fx.onCleanup(() => server.stop());
    const url = server.url('navimpact');
    await fx.migrated(url);
    const r = relay(url);
    await r.waitFor(hasCode('RelayLeaderAcquired'));
    const hot = await seed(url, 5);
    const p = progress();
    const load = runWorkload({ url, writers: 10, transactions: 500, hot, onProgress: p.tick, tolerateErrors: true });

    // NATS dies hard and comes back while writers keep committing.
    await p.reached(1_000);
    await fx.nats.down('SIGKILL');
    await p.reached(1_600);
    await fx.nats.up();

    // Postgres crashes (immediate stop: no checkpoint, connections cut) and comes back.
    await p.reached(2_400);
    const leaderships = r.lines.filter(hasCode('RelayLeaderAcquired')).length;
    await server.restart('immediate');
    await r.waitFor(() => r.lines.filter(hasCode('RelayLeaderAcquired')).length > leaderships, 30_000, 'the relay to lead again after Postgres restarted');

    const result = await load;
    // Both faults happened mid-load: writers lost connections, the relay saw NATS go.
    expect(result.failed).toBeGreaterThan(0);
    expect(result.committed).toBeGreaterThan(4_000);
    expect(r.lines.some(hasCode('NatsDisconnected'))).toBe(true);
    expect(r.running).toBe(true);
    const audit = await readAudit(url);
    expectExactlyOnce(await readStream(fx.nats.url, audit.length, 90_000), audit);
  }, 240_000);
});
