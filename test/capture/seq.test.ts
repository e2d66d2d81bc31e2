/**
 * `seq` never goes back (issue 10 item 10, docs/capture.md): stream GRANTS deleted
 * mid-load, and stream GRANTS restored from an older copy (nats-server's store put back as
 * it was earlier). A subscriber on `grants.changed.>` sees every event the relay publishes,
 * in the stream that was lost too: its `seq`s must rise strictly from first to last, and
 * every committed change (the audit) must be published.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { SEQUENCE_GAP } from '../../src/capture/leader.js';
import { hasCode } from '../support/service.js';
import { captureFixtures, readAudit, runWorkload, seed } from './harness.js';

const fx = captureFixtures();

/** Every event published on `grants.changed.>`, as (seq, grant, version), in arrival order. */
async function watch(url: string): Promise<{ nc: NatsConnection; seen: { seq: number; id: string; version: number }[] }> {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const seen: { seq: number; id: string; version: number }[] = [];
  nc.subscribe('grants.changed.>', { callback: (_err, msg) => seen.push(msg.json()) });
  await nc.flush();
  return { nc, seen };
}

function expectRising(seen: readonly { seq: number }[]): void {
  for (let i = 1; i < seen.length; i++) {
    if (seen[i]!.seq <= seen[i - 1]!.seq) throw new Error(`seq went back: ${seen[i - 1]!.seq} then ${seen[i]!.seq} (event ${i})`);
  }
}

/** Every audited change reached the subscriber (once or more: a republish after a loss is allowed). */
async function expectAllPublished(url: string, ...seen: (readonly { id: string; version: number }[])[]): Promise<void> {
  const audit = await readAudit(url);
  const missing = () => {
    const published = new Set(seen.flat().map((e) => `${e.id}@${e.version}`));
    return audit.filter((a) => !published.has(`${a.grant_id}@${Number(a.version)}`)).length;
  };
  await expect.poll(missing, { timeout: 60_000, interval: 250 }).toBe(0);
}

describe.sequential('capture - seq never goes back', () => {
  it('capture - GRANTS deleted mid-load: the stream is recreated and continues above every seq issued', async () => {
    const db = await fx.database();
    const relay = fx.relay(db.url);
    await relay.waitFor(hasCode('RelayLeaderAcquired'));
    const { nc, seen } = await watch(fx.nats.url);
    const hot = await seed(db.url, 5);
    let deletedAfter = 0;
    const load = runWorkload({
      url: db.url,
      writers: 5,
      transactions: 200,
      hot,
      onProgress: (done) => {
        if (done === 400) {
          deletedAfter = seen.length;
          void nc.jetstreamManager().then((jsm) => jsm.streams.delete('GRANTS'));
        }
      },
    });
    expect((await load).committed).toBe(1_000);
    await relay.waitFor(hasCode('RelayStreamBehind'), 30_000, 'the relay to find the stream behind its record');
    await expectAllPublished(db.url, seen);
    expect(deletedAfter).toBeGreaterThan(0);
    expectRising(seen);
    const info = await (await nc.jetstreamManager()).streams.info('GRANTS');
    // The recreated stream starts past everything published before the loss.
    const before = Math.max(...seen.slice(0, deletedAfter).map((e) => e.seq));
    expect(info.state.first_seq).toBeGreaterThan(before);
    expect(info.state.last_seq).toBe(seen.at(-1)!.seq);
    await nc.close();
  }, 180_000);

  it('capture - GRANTS restored from an older copy: the relay moves it forward, seq keeps rising', async () => {
    const db = await fx.database();
    const relay = fx.relay(db.url);
    await relay.waitFor(hasCode('RelayLeaderAcquired'));
    let watcher = await watch(fx.nats.url);
    const seen = watcher.seen;
    const hot = await seed(db.url, 5);
    expect((await runWorkload({ url: db.url, writers: 4, transactions: 50, hot })).committed).toBe(200);
    await expectAllPublished(db.url, seen);

    // A copy of NATS's store now, and more changes after it.
    const copy = mkdtempSync(join(tmpdir(), 'navimpact-nats-copy-'));
    try {
      await fx.nats.down();
      cpSync(fx.nats.storeDir, copy, { recursive: true });
      await fx.nats.up();
      expect((await runWorkload({ url: db.url, writers: 4, transactions: 50, hot })).committed).toBe(200);
      await expectAllPublished(db.url, seen);
      const issued = seen.at(-1)!.seq;

      // The older copy comes back: the stream ends below what the relay recorded.
      await fx.nats.down();
      rmSync(fx.nats.storeDir, { recursive: true, force: true });
      cpSync(copy, fx.nats.storeDir, { recursive: true });
      await watcher.nc.close().catch(() => undefined);
      await fx.nats.up();
      watcher = await watch(fx.nats.url);
      expect((await runWorkload({ url: db.url, writers: 4, transactions: 25, hot })).committed).toBe(100);
      const behind = JSON.parse(await relay.waitFor(hasCode('RelayStreamBehind'), 30_000)) as { recorded: number; stream: number; continuesAfter: number };
      expect(behind.stream).toBeLessThan(behind.recorded);
      expect(behind.recorded).toBe(issued);
      expect(behind.continuesAfter).toBe(issued + SEQUENCE_GAP);
      await expectAllPublished(db.url, seen, watcher.seen);
      expectRising([...seen, ...watcher.seen]);
      // nats-server 2.9 does not check the chain's first message after a restart with an
      // older store: one batch may land at the copy's end (its payload seq still above
      // `issued`) before the relay sees the stream behind; it is purged by the move and
      // published again after the gap. Live subscribers may see that batch twice, rising.
      const early = watcher.seen.filter((e) => e.seq <= issued + SEQUENCE_GAP);
      expect(early.length).toBeLessThanOrEqual(500);
      expect(watcher.seen.some((e) => e.seq === issued + SEQUENCE_GAP + 1)).toBe(true);
    } finally {
      await watcher.nc.close().catch(() => undefined);
      rmSync(copy, { recursive: true, force: true });
    }
  }, 240_000);
});
