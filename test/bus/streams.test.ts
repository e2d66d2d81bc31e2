/**
 * Stream set-up (src/bus/streams.ts) on a private nats-server: `streamInfo` waits out a
 * stream that another party says exists but the answering server does not show yet (a
 * cluster's meta leader lagging the node that acknowledged a create, seen once in CI), and
 * gives up at its deadline; processes that set up GRANTS at once with different settings
 * all start, and the stream ends with one of their settings, not an error.
 */
import { connect, nanos, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGrantsStream, isNotFound, streamInfo } from '../../src/bus/streams.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';

describe('bus - streams', () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await PrivateNats.start();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('streams - streamInfo asks again while the stream is not found, and has it once it exists', async () => {
    const jsm = await nc.jetstreamManager();
    let asked = 0;
    // The stream appears only after the reader has been told "not found" twice.
    const counting = {
      ...jsm,
      streams: {
        ...jsm.streams,
        info: async (name: string) => {
          asked++;
          if (asked === 3) await jsm.streams.add({ name: 'LATE', subjects: ['late.>'] });
          return jsm.streams.info(name);
        },
      },
    } as typeof jsm;
    const info = await streamInfo(counting, 'LATE', 5_000);
    expect(info.config.name).toBe('LATE');
    expect(asked).toBe(3);
  });

  it('streams - streamInfo gives up at its deadline with "not found", and at once without one', async () => {
    const jsm = await nc.jetstreamManager();
    const err = await streamInfo(jsm, 'NEVER', 300).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    let asked = 0;
    const counting = { ...jsm, streams: { ...jsm.streams, info: (name: string) => (asked++, jsm.streams.info(name)) } } as typeof jsm;
    expect(isNotFound(await streamInfo(counting, 'NEVER', 0).catch((e: unknown) => e))).toBe(true);
    expect(asked).toBe(1);
  });

  it('streams - eight processes set up GRANTS at once with two different ages: all start, the stream has one of the two', async () => {
    const ages = [3_600_000, 7_200_000];
    const connections = await Promise.all(Array.from({ length: 8 }, () => connect({ servers: nats.url })));
    try {
      await Promise.all(connections.map(async (c, i) => ensureGrantsStream(await c.jetstreamManager(), { maxAgeMs: ages[i % 2]!, replicas: 1 }, testLog)));
      const { config } = await streamInfo(await nc.jetstreamManager(), 'GRANTS');
      expect(ages.map((a) => nanos(a))).toContain(config.max_age);
    } finally {
      await Promise.all(connections.map((c) => c.close()));
    }
  });
});
