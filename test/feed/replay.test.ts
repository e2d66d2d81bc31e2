/**
 * Replays of stream GRANTS (src/feed/grants-feed.ts `replay`) read through a stream reader
 * of their own: whole and in order, with their consumer deleted afterwards. A replay whose
 * consumer is lost midway reads on from where it got with a new one; when that keeps
 * happening it fails with ReplayInterruptedError (REST answers 503 busy, the gateway asks
 * the client to resume again) rather than waiting on a dead consumer or passing for complete.
 */
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGrantsStream } from '../../src/bus/streams.js';
import { GrantFeed } from '../../src/feed/grants-feed.js';
import { ReplayInterruptedError } from '../../src/feed/types.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { publishChangeEvent } from '../support/events.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';

const EVENTS = 5_000;
let nats: PrivateNats;
let nc: NatsConnection;
let feed: GrantFeed;

const consumers = async () => (await (await nc.jetstreamManager()).consumers.list('GRANTS').next()).map((c) => c.name);

beforeAll(async () => {
  nats = await PrivateNats.start();
  nc = await connect({ servers: nats.url });
  await ensureGrantsStream(await nc.jetstreamManager(), { maxAgeMs: 3_600_000, replicas: 1 }, testLog);
  for (let i = 0; i < EVENTS; i++) await publishChangeEvent(nc);
  feed = new GrantFeed(nc, { maxAgeMs: 3_600_000, replicas: 1 }, testLog, createMetrics());
  await feed.start();
}, 60_000);

afterAll(async () => {
  await feed?.stop();
  await nc?.close();
  await nats?.stop();
});

describe('feed replay', () => {
  it('feed replay - every event from since + 1 to until, in order, and no consumer left behind', async () => {
    const before = await consumers();
    const seqs: number[] = [];
    expect(await feed.replay('all', 100, 1_500, (e) => seqs.push(e.seq) > 0)).toBe(true);
    expect(seqs).toEqual(Array.from({ length: 1_400 }, (_, i) => 101 + i));
    await expect.poll(consumers, { timeout: 5_000 }).toEqual(before);
  });

  /**
   * A replay of the whole stream whose consumers (every one but the live feed's) are deleted
   * as soon as they deliver, the first `times` of them.
   */
  async function replayWithDeletions(times: number): Promise<{ seqs: number[]; result: Promise<boolean> }> {
    const jsm = await nc.jetstreamManager();
    const spared = new Set(await consumers());
    const seqs: number[] = [];
    let deletions = 0;
    let deleting = false;
    const result = feed.replay('all', 0, EVENTS, (e) => {
      seqs.push(e.seq);
      if (!deleting && deletions < times) {
        deleting = true;
        void consumers()
          .then(async (names) => {
            for (const name of names.filter((n) => !spared.has(n))) {
              spared.add(name);
              deletions++;
              await jsm.consumers.delete('GRANTS', name);
            }
          })
          .catch(() => undefined)
          .finally(() => (deleting = false));
      }
      return true;
    });
    return { seqs, result };
  }

  it('feed replay - its consumer deleted midway: the replay reads on with a new one from where it got, every event once, in order', async () => {
    const { seqs, result } = await replayWithDeletions(1);
    expect(await result).toBe(true);
    expect(seqs).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
  }, 30_000);

  it('feed replay - every consumer it opens deleted: ReplayInterruptedError after its third, nothing skipped or repeated before', async () => {
    const { seqs, result } = await replayWithDeletions(Number.POSITIVE_INFINITY);
    await expect(result).rejects.toThrow(ReplayInterruptedError);
    expect(seqs.length).toBeLessThan(EVENTS);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  }, 60_000);
});
