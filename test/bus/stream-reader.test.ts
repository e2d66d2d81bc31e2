/**
 * The stream reader (src/bus/stream-reader.ts) on real nats-servers: in order from a
 * sequence, its consumer deleted when stopped, and, on a three-node cluster, ended within
 * seconds when the node holding its consumer dies under the client connected to it (nats.js's
 * ordered consumer sat silent for 30 s and more there), so that a reader from its position
 * delivers the rest with nothing skipped or repeated.
 */
import { connect, type JetStreamManager, type NatsConnection, type StoredMsg } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamReader, StreamReaderError } from '../../src/bus/stream-reader.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';
import { PrivateNatsCluster } from '../support/nats-cluster.js';

const STREAM = 'READER';
const encoder = new TextEncoder();

/** Publishes `count` messages, each asked again until a stream leader takes it. */
async function publish(nc: NatsConnection, from: number, count: number): Promise<void> {
  const js = nc.jetstream({ timeout: 2_000 });
  for (let i = from; i < from + count; i++) {
    for (;;) {
      try {
        await js.publish(`reader.${i}`, encoder.encode(String(i)), { msgID: `m-${i}` });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/**
 * Iterates `reader` (once: a reader is iterated once), handing each sequence to `each`,
 * until `each` says stop or the reader ends; the sequences seen.
 */
async function read(reader: StreamReader, each: (seq: number) => Promise<boolean> | boolean = () => true): Promise<number[]> {
  const seqs: number[] = [];
  for await (const m of reader) {
    seqs.push(m.seq);
    if (!(await each(m.seq))) break;
  }
  return seqs;
}

describe('bus - stream reader', () => {
  describe('one server', () => {
    let nats: PrivateNats;
    let nc: NatsConnection;
    beforeAll(async () => {
      nats = await PrivateNats.start();
      nc = await connect({ servers: nats.url });
      await (await nc.jetstreamManager()).streams.add({ name: STREAM, subjects: ['reader.>'] });
      await publish(nc, 1, 20);
    });
    afterAll(async () => {
      await nc?.close();
      await nats?.stop();
    });

    it('stream reader - hands over every message from a sequence in order, waits for the next, and its consumer is gone once stopped', async () => {
      const jsm = await nc.jetstreamManager();
      const reader = await StreamReader.open(nc, STREAM, 5, { prefetch: 4, reader: 'test', log: testLog });
      expect(await jsm.consumers.info(STREAM, reader.consumer)).toMatchObject({ config: { num_replicas: 1, mem_storage: true, ack_policy: 'none' } });
      const seqs = await read(reader, (seq) => {
        if (seq === 20) void publish(nc, 21, 3);
        if (seq === 23) reader.stop();
        return true;
      });
      expect(seqs).toEqual(Array.from({ length: 19 }, (_, i) => i + 5));
      expect(reader.failure).toBeUndefined();
      await expect.poll(async () => (await jsm.consumers.list(STREAM).next()).map((c) => c.name), { timeout: 5_000 }).not.toContain(reader.consumer);
    });

    it('stream reader - messages deleted after its position are no stall: it waits through several checks and hands over the next one published', async () => {
      const jsm = await nc.jetstreamManager();
      const last = (await jsm.streams.info(STREAM)).state.last_seq;
      await publish(nc, 100, 2);
      await jsm.streams.deleteMessage(STREAM, last + 1);
      await jsm.streams.deleteMessage(STREAM, last + 2);
      const reader = await StreamReader.open(nc, STREAM, last + 1, { prefetch: 4, reader: 'test', log: testLog, stallMs: 200 });
      const seqs = read(reader, () => false);
      // The stream's last sequence is past the position, but no message is there to deliver.
      await expect.poll(() => reader.stallChecks, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(3);
      expect(reader.failure).toBeUndefined();
      await publish(nc, 102, 1);
      expect(await seqs).toEqual([last + 3]);
      expect(reader.failure).toBeUndefined();
    });

    it('stream reader - after a quiet spell, a message found by a stall check and gone at the next is no stall, even found again later; one held at two checks in a row ends the reader', async () => {
      const last = (await (await nc.jetstreamManager()).streams.info(STREAM)).state.last_seq;
      // Checks that find a message the consumer has not delivered yet (`true`): their answer
      // made up, as a message published an instant before a check and still in flight would
      // give; the stream's own answer for the others and after.
      const inFlight = (reader: StreamReader, answers: boolean[]) => {
        const { streams } = (reader as unknown as { jsm: JetStreamManager }).jsm;
        const real = streams.getMessage.bind(streams);
        const left = [...answers];
        streams.getMessage = (stream, query) => (left.shift() ? Promise.resolve({ seq: reader.position + 1 } as StoredMsg) : real(stream, query));
      };
      // Found, gone, found again, gone: never two in a row.
      const once = await StreamReader.open(nc, STREAM, last + 1, { prefetch: 4, reader: 'test', log: testLog, stallMs: 200 });
      inFlight(once, [true, false, true]);
      const onceRead = read(once, () => false);
      await expect.poll(() => once.stallChecks, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(5);
      expect(once.failure).toBeUndefined();
      await publish(nc, 200, 1);
      expect(await onceRead).toEqual([last + 1]);

      const held = await StreamReader.open(nc, STREAM, last + 2, { prefetch: 4, reader: 'test', log: testLog, stallMs: 200 });
      inFlight(held, [true, true]);
      expect(await read(held)).toEqual([]);
      expect(held.failure?.message).toMatch(/nothing delivered/);
      expect(held.stallChecks).toBe(2);
    });

    it('stream reader - a consumer deleted under it ends the reader with its reason, and nothing was handed over twice', async () => {
      const jsm = await nc.jetstreamManager();
      const reader = await StreamReader.open(nc, STREAM, 1, { prefetch: 4, reader: 'test', log: testLog, stallMs: 1_000 });
      const all = await read(reader, async (seq) => {
        if (seq === 3) await jsm.consumers.delete(STREAM, reader.consumer);
        return true;
      });
      expect(reader.failure).toBeInstanceOf(StreamReaderError);
      // nats-server 2.9 tells a pull of no deletion: heartbeats stop, and the stream is ahead.
      expect(reader.failure?.message).toMatch(/heartbeats missed|nothing delivered|consumer/);
      // What it handed over before it ended: from 1, in order, once each.
      expect(all).toEqual(all.map((_, i) => i + 1));
      expect(all.length).toBeGreaterThanOrEqual(3);
    }, 30_000);
  });

  describe('a cluster of three', () => {
    let cluster: PrivateNatsCluster;
    beforeAll(async () => {
      cluster = await PrivateNatsCluster.start(3);
      const nc = await connect({ servers: cluster.nodes.map((n) => n.url) });
      const jsm = await nc.jetstreamManager({ timeout: 20_000 });
      await jsm.streams.add({ name: STREAM, subjects: ['reader.>'], num_replicas: 3 });
      await publish(nc, 1, 10);
      await nc.close();
    }, 60_000);
    afterAll(async () => {
      await cluster?.stop();
    });

    it('stream reader - the node holding its consumer killed under the connected client: the reader ends within seconds, and a new one from its position delivers the rest exactly once', async () => {
      // A client on n1 (it may move on when n1 dies), and a reader whose consumer n1 holds.
      const nc = await connect({ servers: cluster.nodes.map((n) => n.url), noRandomize: true, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      const jsm = await nc.jetstreamManager({ timeout: 5_000 });
      let reader: StreamReader | undefined;
      for (let tries = 0; tries < 40 && !reader; tries++) {
        const r = await StreamReader.open(nc, STREAM, 1, { prefetch: 4, reader: 'test', log: testLog, stallMs: 1_000 });
        if ((await jsm.consumers.info(STREAM, r.consumer)).cluster?.leader === 'n1') reader = r;
        else r.stop();
      }
      expect(reader, 'a consumer placed on n1 in 40 tries').toBeDefined();
      const others = await connect({ servers: cluster.nodes.slice(1).map((n) => n.url) });
      try {
        let killedAt = 0;
        const ending = read(reader!, async (seq) => {
          if (seq === 10) {
            await cluster.node('n1').down('SIGKILL');
            killedAt = Date.now();
            void publish(others, 11, 10);
          }
          return seq < 20;
        });
        // Whatever ends it (the stall watch, missed heartbeats, the consumer reported gone),
        // the reader must end rather than wait for its dead consumer.
        const seen = await Promise.race([ending, new Promise<undefined>((r) => setTimeout(r, 30_000))]);
        expect(seen, 'the reader ended').toBeDefined();
        expect(Date.now() - killedAt, 'ms from the kill to the end of the reader').toBeLessThan(20_000);
        expect(reader!.failure).toBeInstanceOf(StreamReaderError);
        console.info(`reader ended ${Date.now() - killedAt} ms after the kill: ${reader!.failure?.message}`);
        // As the feed does: opened again until the stream has its new leader.
        let next: StreamReader | undefined;
        for (const until = Date.now() + 30_000; !next && Date.now() < until; ) {
          next = await StreamReader.open(others, STREAM, reader!.position + 1, { prefetch: 4, reader: 'test', log: testLog }).catch(() => undefined);
        }
        expect(next, 'a reader opened on the survivors').toBeDefined();
        seen!.push(...(await read(next!, (seq) => seq < 20)));
        next!.stop();
        expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      } finally {
        reader?.stop();
        await others.close();
        await nc.close();
      }
    }, 120_000);
  });
});
