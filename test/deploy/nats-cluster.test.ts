/**
 * Issue 14, acceptance 1: the service on a three-node NATS cluster with streams of three
 * replicas. Relay, gateway, invalidator and ingest run as their own processes with every
 * node in NATS_URL; writers commit to Postgres and a scraper publishes records while the
 * node leading stream GRANTS is killed (SIGKILL) and later brought back. Every change must
 * reach the WebSocket clients exactly once and in order, stream GRANTS must hold exactly the
 * committed changes (the audit trigger of test/capture/harness.ts is the ground truth), the
 * invalidator's watermark must reach the stream's end, and every scraped record must be
 * ingested.
 */
import { randomUUID } from 'node:crypto';
import { connect as connectNats, type JetStreamManager, type NatsConnection } from 'nats';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ensureGrantsStream, StreamConfigError, streamInfo } from '../../src/bus/streams.js';
import type { ScrapedRecord } from '../../src/scrape/sources/types.js';
import { RecordPublisher } from '../../src/scrape/publisher.js';
import { expectExactlyOnce, installAudit, readAudit, readStream, runWorkload, seed } from '../capture/harness.js';
import { connect, token, SECRET, ORIGIN, type Client } from '../gateway/harness.js';
import { validRecord } from '../ingest/harness.js';
import { testLog } from '../support/log.js';
import { PrivateNats } from '../support/nats.js';
import { PrivateNatsCluster } from '../support/nats-cluster.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import type { Child } from '../support/process.js';
import { hasCode, startService } from '../support/service.js';

const WRITERS = 6;
const TRANSACTIONS = 250;
const RECORDS = 300;
const CLIENTS = 3;
const REDIS_URL = 'redis://127.0.0.1:6379';
/** Pause of the test's scraper before publishing a refused record again. */
const PUBLISH_RETRY_MS = 100;

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

/**
 * The server leading `stream` once it passes `test`. While a leader is elected, requests
 * time out or answer without one; asked again until a deadline.
 */
async function leaderOf(jsm: JetStreamManager, stream: string, test: (name: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const name = await jsm.streams.info(stream).then((i) => i.cluster?.leader, () => undefined);
    if (name && test(name)) return name;
    if (Date.now() > deadline) throw new Error(`stream ${stream} has no new leader after ${timeoutMs} ms (last answer: ${name ?? 'none'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('deploy - NATS cluster', () => {
  let cluster: PrivateNatsCluster;
  let db: TestDatabase;
  let nc: NatsConnection;
  const children: Child[] = [];
  const prefix = `t${randomUUID().slice(0, 8)}:`;

  beforeAll(async () => {
    [cluster, db] = await Promise.all([PrivateNatsCluster.start(3), createTestDatabase()]);
    const migrate = startService({ DATABASE_URL: db.url }, ['migrate']);
    expect((await migrate.exited).code, migrate.lines.slice(-5).join('\n')).toBe(0);
    await installAudit(db.url);
    nc = await connectNats({ servers: cluster.nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await nc?.close();
    await cluster?.stop();
    await db?.drop();
  });

  const service = (env: Record<string, string>): Child => {
    const child = startService({ DATABASE_URL: db.url, NATS_URL: cluster.url, NATS_STREAM_REPLICAS: '3', REDIS_URL, CACHE_PREFIX: prefix, ...env });
    children.push(child);
    return child;
  };

  it('deploy - an existing stream of one replica is scaled to NATS_STREAM_REPLICAS; a single server refuses three, naming the stream', async () => {
    const jsm = await nc.jetstreamManager();
    await ensureGrantsStream(jsm, { maxAgeMs: 3_600_000, replicas: 1 }, testLog);
    // Asked through streamInfo: the server that answers may not have applied the create yet.
    expect((await streamInfo(jsm, 'GRANTS')).config.num_replicas).toBe(1);
    await ensureGrantsStream(jsm, { maxAgeMs: 3_600_000, replicas: 3 }, testLog);
    const info = await streamInfo(jsm, 'GRANTS');
    expect(info.config.num_replicas).toBe(3);
    // Every node is a peer of the stream (right after the change its leader may still be
    // being elected, and all three show as replicas).
    const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].filter((n) => n !== undefined);
    expect(new Set(peers)).toEqual(new Set(['n1', 'n2', 'n3']));
    await leaderOf(jsm, 'GRANTS', () => true);
    await jsm.streams.delete('GRANTS');

    const single = await PrivateNats.start();
    const alone = await connectNats({ servers: single.url });
    try {
      await expect(ensureGrantsStream(await alone.jetstreamManager(), { maxAgeMs: 3_600_000, replicas: 3 }, testLog)).rejects.toThrow(StreamConfigError);
      await expect(ensureGrantsStream(await alone.jetstreamManager(), { maxAgeMs: 3_600_000, replicas: 3 }, testLog)).rejects.toThrow(/stream GRANTS \(3 replicas\)/);
    } finally {
      await alone.close();
      await single.stop();
    }
  });

  it('deploy - the leader of GRANTS killed mid-load and brought back: every change reaches clients exactly once, in order; ingest and the invalidator ride through', async () => {
    onTestFailed(async () => {
      for (const c of children) console.error(`--- ${c.proc.spawnargs.join(' ')}\n${c.lines.slice(-15).join('\n')}`);
      for (const n of cluster.nodes) console.error(`--- nats ${n.name}\n${n.lines.slice(-10).join('\n')}`);
      // Where stream GRANTS and its consumers stand (which node leads each, how far each got).
      const jsm = await nc.jetstreamManager({ timeout: 5_000 });
      const info = await jsm.streams.info('GRANTS').catch((err: Error) => err);
      console.error(`--- GRANTS: ${info instanceof Error ? info.message : JSON.stringify({ leader: info.cluster?.leader, replicas: info.cluster?.replicas, last: info.state.last_seq })}`);
      for await (const ci of jsm.consumers.list('GRANTS')) {
        console.error(`consumer ${ci.name}: ${JSON.stringify({ leader: ci.cluster?.leader, delivered: ci.delivered.stream_seq, pending: ci.num_pending, waiting: ci.num_waiting, ackPending: ci.num_ack_pending })}`);
      }
    });
    const t0 = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const relay = service({ ROLES: 'relay', RELAY_LEADER_POLL: '250ms' });
    const ingest = service({ ROLES: 'ingest' });
    const invalidator = service({ ROLES: 'invalidator' });
    const gateway = service({ ROLES: 'gateway', PORT: String(await freePort()), JWT_SECRET: SECRET, CORS_ORIGINS: ORIGIN });
    await relay.waitFor(hasCode('RelayLeaderAcquired'), 60_000, 'relay leading');
    await ingest.waitFor(hasCode('RoleStarted'), 60_000, 'ingest started');
    await invalidator.waitFor(hasCode('RoleStarted'), 60_000, 'invalidator started');
    const port = (JSON.parse(await gateway.waitFor(hasCode('GatewayListening'), 60_000, 'gateway listening')) as { port: number }).port;

    phase('started');
    // Every stream was created with three replicas. (A cluster's stream info can take more
    // than nats.js's default 5 s when the machine is loaded: seen once beside other suites.)
    const jsm = await nc.jetstreamManager({ timeout: 20_000 });
    for (const name of ['GRANTS', 'SCRAPE', 'SCRAPE_REJECTED']) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);

    const clients: Client[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = await connect(port, { token: await token({ sub: `cluster-${i}` }) });
      c.send({ type: 'subscribe', topic: 'grants', ref: 's' });
      await c.next((f) => f.type === 'subscribed', 10_000, 'subscribed');
      clients.push(c);
    }
    // When each event reached the first client: the longest silence is the failover's cost.
    const arrivals: number[] = [];
    clients[0]!.ws.on('message', () => arrivals.push(Date.now()));

    // The load: writers on Postgres, and a scraper publishing through the cluster. A
    // publish that fails while a stream leader is elected is retried, as a scraper's next
    // run would: the record's message id makes the retry safe.
    const hot = await seed(db.url, 5);
    const p = progress();
    const load = runWorkload({ url: db.url, writers: WRITERS, transactions: TRANSACTIONS, hot, onProgress: p.tick });
    const scraper = await connectNats({ servers: cluster.nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const publisher = new RecordPublisher(scraper, 'cluster', 2_000);
    let publishRetries = 0;
    let outage = false;
    let publishedInOutage = 0;
    // Resolved by the first record published while the node is down.
    let firstInOutage!: () => void;
    const publishedDuringOutage = new Promise<void>((resolve) => (firstInOutage = resolve));
    const scraping = (async () => {
      for (let i = 0; i < RECORDS; i++) {
        // Records spread over the whole load, so some are published while a node is down.
        await p.reached(Math.floor((i * WRITERS * TRANSACTIONS) / RECORDS));
        for (;;) {
          try {
            await publisher.publish(validRecord(`c-${i}`, i) as ScrapedRecord);
            if (outage && publishedInOutage++ === 0) firstInOutage();
            break;
          } catch {
            // As a scraper's next attempt would, a moment later.
            publishRetries++;
            await new Promise((r) => setTimeout(r, PUBLISH_RETRY_MS));
          }
        }
      }
    })();

    // Kill the node that leads GRANTS (the worst one to lose), mid-load; bring it back later.
    await p.reached((WRITERS * TRANSACTIONS) / 4);
    const leader = await leaderOf(jsm, 'GRANTS', () => true);
    const victim = cluster.node(leader);
    phase('kill');
    await victim.down('SIGKILL');
    outage = true;
    await p.reached((WRITERS * TRANSACTIONS) / 2);
    const newLeader = await leaderOf(jsm, 'GRANTS', (name) => name !== leader);
    await p.reached((WRITERS * TRANSACTIONS * 3) / 4);
    // The node stays down until the scraper got a record through without it: on a loaded
    // machine the writers can reach 3/4 before SCRAPE has elected a new leader.
    await Promise.race([publishedDuringOutage, new Promise((r) => setTimeout(r, 60_000))]);
    await victim.up();
    outage = false;
    phase('back');
    expect(publishedInOutage, 'records published while the node was down').toBeGreaterThan(0);

    expect((await load).committed).toBe(WRITERS * TRANSACTIONS);
    const loadDoneAt = Date.now();
    phase('load done');
    await scraping;
    await scraper.close();
    phase('scraped');

    // Ingest: every record reached Postgres (through the audit, so also through the relay).
    const ingested = () => readAudit(db.url).then((rows) => rows.filter((r) => r.op === 'insert' && (r.snapshot as { source?: string } | null)?.source === 'cluster').length);
    const deadline = Date.now() + 60_000;
    while ((await ingested()) < RECORDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await ingested()).toBe(RECORDS);

    phase('ingested');
    // Stream GRANTS: exactly the committed changes, once each, in commit order.
    const all = await readAudit(db.url);
    const events = await readStream(cluster.nodes[0]!.url, all.length, 60_000);
    expectExactlyOnce(events, all);
    const last = events[events.length - 1]!.streamSeq;

    phase('stream read');
    // Clients: every event of the stream, once, in order, without a gap.
    for (const c of clients) {
      await c.next((f) => f.type === 'grant' && f.seq === last, 60_000, `event ${last}`);
      const got = c.ofType('grant').map((f) => `${String(f.seq)}/${String(f.id)}/${String(f.version)}`);
      expect(got).toEqual(events.map((e) => `${e.streamSeq}/${e.event.id}/${e.event.version}`));
      c.close();
    }

    phase('clients checked');
    // While the writers commit, a silence is the live feed's failover; after them, events
    // come only from ingest (records in flight on the lost node return after INGEST_ACK_WAIT).
    let longestGap = 0;
    let longestLoadGap = 0;
    for (let i = 1; i < arrivals.length; i++) {
      const gap = arrivals[i]! - arrivals[i - 1]!;
      longestGap = Math.max(longestGap, gap);
      if (arrivals[i]! <= loadDoneAt) longestLoadGap = Math.max(longestLoadGap, gap);
    }
    phase(`longest silence of a client under load ${(longestLoadGap / 1000).toFixed(1)}s, at all ${(longestGap / 1000).toFixed(1)}s`);
    // The invalidator applied every event: its watermark reached the end of the stream.
    const redis = new Redis(REDIS_URL);
    try {
      const until = Date.now() + 30_000;
      let wm = 0;
      while ((wm = Number(await redis.get(`${prefix}wm`))) < last && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(wm).toBe(last);
      await redis.del(`${prefix}wm`);
    } finally {
      redis.disconnect();
    }

    // Nothing died on the way; report what the outage cost.
    for (const child of [relay, ingest, invalidator, gateway]) expect(child.running).toBe(true);
    console.info(
      `nats cluster: killed ${leader}, GRANTS led by ${newLeader} meanwhile; ${events.length} events, ${RECORDS} records (${publishedInOutage} while ${leader} was down), ${publishRetries} scraper publish retries; ${phases.join(', ')}`,
    );
  }, 150_000);
});
