/**
 * GATEWAY_REPLAY_WINDOW (issue 14, the reconnect storm): a gateway keeps its last events in
 * memory, so the clients of a dead gateway that resume on it within that window are
 * replayed without a consumer on stream GRANTS each (bench/storm: 5,000 of them at once
 * overflowed the replay semaphore and were sent away with 1001). Older gaps still come from
 * the stream. Either way: every event once, in order.
 */
import { connect as natsConnect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startStack, token, type Client, type Stack } from './harness.js';

const WINDOW = 10;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ GATEWAY_REPLAY_WINDOW: String(WINDOW), GATEWAY_RATE_LIMIT: '1000' });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

/** Most consumers stream GRANTS had at once while `run` ran (the gateway's live one is 1). */
async function mostConsumers(run: () => Promise<void>): Promise<number> {
  const nc = await natsConnect({ servers: stack.nats.url });
  const jsm = await nc.jetstreamManager();
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, (await jsm.streams.info('GRANTS')).state.consumer_count);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  })();
  try {
    await run();
  } finally {
    sampling = false;
    await sampler;
    await nc.close();
  }
  return most;
}

async function resume(count: number, since: number, head: number): Promise<void> {
  const clients: Client[] = await Promise.all(Array.from({ length: count }, async (_, i) => connect(stack.port, { token: await token({ sub: `window-${since}-${i}`, ttlSec: 600 }) })));
  for (const c of clients) c.send({ type: 'subscribe', topic: 'grants', since });
  await Promise.all(clients.map((c) => c.next((f) => f.type === 'grant' && f.seq === head, 30_000, `event ${head}`)));
  const expected = Array.from({ length: head - since }, (_, i) => since + 1 + i);
  for (const c of clients) {
    expect(c.ofType('subscribed')[0]).toMatchObject({ seq: since, recovered: true });
    expect(c.ofType('grant').map((f) => f.seq)).toEqual(expected);
    c.close();
  }
}

describe('gateway replay window', () => {
  it('replay window - 60 clients resuming within the last GATEWAY_REPLAY_WINDOW events: replayed from memory, no consumer opened; older gaps read the stream', async () => {
    for (let i = 0; i < 30; i++) await stack.sql(`INSERT INTO grants (source, external_id, title) VALUES ('window', gen_random_uuid()::text, $1)`, [`Window ${i}`]);
    await expect.poll(async () => Number((await stack.sql('SELECT count(*) FROM grant_changes')).rows[0].count), { timeout: 20_000 }).toBe(0);
    const head = Number((await stack.sql('SELECT stream_seq FROM relay_state')).rows[0].stream_seq);
    // The gateway has delivered the last event (a client on it sees it) before anyone resumes.
    const witness = await connect(stack.port, { token: await token({ sub: 'witness', ttlSec: 600 }) });
    witness.send({ type: 'subscribe', topic: 'grants', since: head - 1 });
    await witness.next((f) => f.type === 'grant' && f.seq === head, 20_000, `event ${head}`);
    witness.close();

    const inWindow = await mostConsumers(() => resume(60, head - (WINDOW - 2), head));
    expect(inWindow, 'consumers while resuming within the window').toBe(1);

    const beyond = await mostConsumers(() => resume(20, head - 25, head));
    expect(beyond, 'consumers while resuming from before the window').toBeGreaterThan(1);
  }, 90_000);
});
