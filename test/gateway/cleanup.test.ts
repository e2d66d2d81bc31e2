/**
 * Guaranteed cleanup: 20,000 connect/close cycles, spread over every way a connection ends,
 * against a gateway run in this process (so its structures and heap can be inspected),
 * fed by a private nats-server. Events are published straight into stream GRANTS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { publishChangeEvent } from '../support/events.js';
import { PrivateNats } from '../support/nats.js';
import { testLog } from '../support/log.js';
import { loadConfig } from '../../src/config/load.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startLocalGateway, type LocalGateway } from '../support/gateway.js';
import { ensureGrantsStream } from '../../src/bus/streams.js';
import { connect, inParallel, SECRET, token, type Client } from './harness.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let nats: PrivateNats;
let nc: NatsConnection;
const metrics = createMetrics();
const ENV = {
  ROLES: 'gateway',
  PORT: '0',
  JWT_SECRET: SECRET,
  GATEWAY_HEARTBEAT: '1s',
  GATEWAY_MAX_FRAME: '1024',
  GATEWAY_MAX_BUFFER: '65536',
  GATEWAY_RATE_LIMIT: '50',
  // Connections here come and go by the thousand a second; admission is tested in storm.test.ts.
  GATEWAY_ACCEPT_RATE: '100000',
  GATEWAY_MAX_CONNECTIONS_PER_SUB: '100000',
};

beforeAll(async () => {
  nats = await PrivateNats.start();
  nc = await natsConnect({ servers: nats.url });
  await ensureGrantsStream(await nc.jetstreamManager(), { maxAgeMs: 3_600_000, replicas: 1 }, testLog);
});

afterAll(async () => {
  await nc.close();
  await nats.stop();
});

function startGateway(env: Record<string, string> = {}): Promise<LocalGateway> {
  return startLocalGateway(loadConfig({ ...ENV, ...env }), nc, metrics);
}

const ended = (c: Client, code: number) => c.closed.then((r) => expect(r.code).toBe(code));

// The phases below are functions of their own so that their clients are garbage once they
// return: the heap check is about the gateway, not about the test's own clients.

/**
 * Subscribed clients that stop reading while events pour in: closed with 4009. A gateway
 * of its own, with a slow heartbeat, so that the heartbeat does not close them first.
 */
async function slowConsumers(viewer: string): Promise<number> {
  const gateway = await startGateway({ GATEWAY_HEARTBEAT: '60s' });
  const port = gateway.port;
  const slow = await Promise.all(Array.from({ length: 20 }, () => connect(port, { token: viewer })));
  for (const c of slow) c.send({ type: 'subscribe', topic: 'grants' });
  await Promise.all(slow.map((c) => c.next((f) => f.type === 'subscribed')));
  const sockets = slow.map((c) => (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket);
  for (const s of sockets) s.pause();
  // Events of 64 KB until the gateway gives up on them: the kernel's socket buffers take the
  // first megabytes, then the gateway's own buffer passes its 64 KB bound.
  const killed = async () => (await metrics.wsSlowDisconnects.get()).values[0]?.value ?? 0;
  const before = await killed();
  for (let i = 0; i < 2_000 && (await killed()) - before < slow.length; i++) await publishChangeEvent(nc, 'x'.repeat(65_536));
  // The gateway closed each of them with 4009 (counted in navimpact_ws_slow_disconnects_total).
  expect((await killed()) - before).toBe(slow.length);
  for (const s of sockets) s.resume();
  // A client that stopped reading cannot read the close frame queued behind megabytes it never
  // read: when uWS gives up waiting, its connection just drops (1006).
  const codes = await Promise.all(slow.map((c) => c.closed));
  for (const { code } of codes) expect([4009, 1006]).toContain(code);
  await gateway.whenEmpty();
  expect(gateway.stats()).toEqual({ sockets: 0, subjects: 0, replays: 0, views: 0, sse: 0, slots: 0 });
  await gateway.stop();
  return slow.length;
}

/** Clients open while the gateway stops: each gets 1001; then a new gateway starts. */
async function shutdownWith(gateway: LocalGateway, viewer: string): Promise<{ closed: number; next: LocalGateway }> {
  const open = await Promise.all(Array.from({ length: 300 }, () => connect(gateway.port, { token: viewer })));
  await gateway.stop();
  for (const r of await Promise.all(open.map((c) => c.closed))) expect(r.code).toBe(1001);
  expect(gateway.stats()).toEqual({ sockets: 0, subjects: 0, replays: 0, views: 0, sse: 0, slots: 0 });
  return { closed: open.length, next: await startGateway() };
}

describe('cleanup', () => {
  it('cleanup - 20,000 connections ended every possible way leave no connection, no structure and no heap behind', async () => {
    let gateway = await startGateway();
    const viewer = await token({ sub: 'cycler', ttlSec: 3_600 });
    const counts: Record<string, number> = {};
    const kinds: [string, number, number, (port: number) => Promise<void>][] = [
      ['client close', 7_000, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        c.send({ type: 'subscribe', topic: 'grants' });
        await c.next((f) => f.type === 'subscribed');
        c.close();
        await ended(c, 1005);
      }],
      ['tcp reset', 6_000, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        c.send({ type: 'subscribe', topic: `grant:${randomUUID()}` });
        await c.next((f) => f.type === 'subscribed');
        c.ws.terminate();
        await c.closed;
      }],
      ['malformed 4400', 1_500, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        c.send('{oops');
        await ended(c, 4400);
      }],
      ['too large 1009', 1_000, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        c.send({ type: 'ping', ref: 'x'.repeat(2_000) });
        await ended(c, 1009);
      }],
      ['rate 4008', 1_000, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        for (let i = 0; i < 120; i++) c.send({ type: 'ping' });
        await ended(c, 4008);
      }],
      ['forbidden 4003', 1_000, 100, async (port) => {
        const c = await connect(port, { token: viewer });
        c.send({ type: 'auth', token: await token({ sub: 'someone-else' }) });
        await ended(c, 4003);
      }],
      ['token expiry 4001', 500, 250, async (port) => {
        const c = await connect(port, { token: await token({ sub: 'cycler', ttlSec: 2 }) });
        c.send({ type: 'subscribe', topic: 'grants' });
        await ended(c, 4001);
      }],
      ['ping timeout', 500, 250, async (port) => {
        // A peer gone silent: it sends nothing and leaves protocol pings unanswered.
        const c = await connect(port, { token: viewer, autoPong: false });
        await ended(c, 1006);
      }],
    ];
    let total = 0;
    const warm = async () => {
      await inParallel(1_000, 100, async () => kinds[0]![3](gateway.port));
      gc();
    };
    await warm();
    await gateway.whenEmpty();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (const [name, count, parallel, run] of kinds) {
      await inParallel(count, parallel, () => run(gateway.port));
      counts[name] = count;
      total += count;
    }
    // Slow consumers (4009), then a server shutdown (1001) and a new gateway in this process.
    total += counts['slow 4009'] = await slowConsumers(viewer);
    const shutdown = await shutdownWith(gateway, viewer);
    total += counts['shutdown 1001'] = shutdown.closed;
    gateway = shutdown.next;
    expect(total).toBeGreaterThanOrEqual(18_500);
    await inParallel(20_000 - total, 100, () => kinds[1]![3](gateway.port));
    // A reset is seen by the client at once and by the server a moment later.
    await gateway.whenEmpty();
    expect(await metrics.registry.getSingleMetricAsString('navimpact_ws_connections')).toMatch(/navimpact_ws_connections 0$/m);
    expect(gateway.stats()).toEqual({ sockets: 0, subjects: 0, replays: 0, views: 0, sse: 0, slots: 0 });
    gc();
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    console.info(`cleanup: ${JSON.stringify(counts)}; heap ${(heapBefore / 1e6).toFixed(1)} MB -> ${(heapAfter / 1e6).toFixed(1)} MB`);
    expect(heapAfter).toBeLessThan(heapBefore * 1.1);
    await gateway.stop();
  }, 300_000);
});
