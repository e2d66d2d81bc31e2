/**
 * Issue 10 item 7, the ingest side, against a private nats-server and ingest run as
 * `src/main.ts` with ROLES=ingest:
 * - a pull and a batch are bounded by bytes (INGEST_MAX_BYTES), not only by count: a flood
 *   of large records never has more than a few pulls' worth handed to ingest at once;
 * - stream SCRAPE bounds each source (SCRAPE_MAX_PER_SOURCE) and each record
 *   (SCRAPE_MAX_RECORD_BYTES): a source that floods it is refused while another source is
 *   still accepted, and nothing stored is lost.
 */
import { connect } from 'nats';
import { describe, expect, it } from 'vitest';
import { hasCode } from '../support/service.js';
import { count, ingestFixtures, publish, validRecord, waitIngested, type Outgoing } from './harness.js';

const fx = ingestFixtures();

const MiB = 1_048_576;

describe.sequential('ingest bounds', () => {
  it('ingest bounds - 300 records of 200 KB, INGEST_MAX_BYTES=1 MiB: no batch over 1 MiB, at most about three pulls per worker handed out at once, all ingested', async () => {
    const db = await fx.database();
    const CONCURRENCY = 2;
    const RECORD = 200_000;
    const RECORDS = 300;
    // Published before ingest starts: the whole flood waits in SCRAPE, as after a burst of scrapers.
    const records: Outgoing[] = Array.from({ length: RECORDS }, (_, i) => ({
      source: 'big',
      // Unknown fields are ignored by ingest: the record is large on the bus, small in the table.
      payload: { ...validRecord(`big-${i}`, i), pageHtml: 'x'.repeat(RECORD) },
    }));
    // SCRAPE is made by ingest: start it once so the stream exists, with the bounds under test.
    const env = { DATABASE_POOL_SIZE: '2', INGEST_CONCURRENCY: String(CONCURRENCY), INGEST_BATCH_SIZE: '500', INGEST_MAX_BYTES: String(MiB), SCRAPE_MAX_RECORD_BYTES: String(MiB / 4), LOG_LEVEL: 'debug' };
    const first = fx.ingest(db.url, env);
    await first.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    await first.kill('SIGKILL');
    await publish(fx.nats.url, [records]);

    const nc = await connect({ servers: fx.nats.url });
    const jsm = await nc.jetstreamManager();
    let mostHandedOut = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const info = await jsm.consumers.info('SCRAPE', 'ingest').catch(() => undefined);
        mostHandedOut = Math.max(mostHandedOut, info?.num_ack_pending ?? 0);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    const ingest = fx.ingest(db.url, env);
    await waitIngested(fx.nats.url, 120_000);
    sampling = false;
    await sampler;
    await nc.close();

    expect(await count(db.url, 'SELECT count(*) AS n FROM grants')).toBe(RECORDS);
    const batches = ingest.lines
      .filter((l) => l.includes('"msg":"batch ingested"'))
      .map((l) => JSON.parse(l) as { batch: number; bytes: number });
    expect(batches.reduce((n, b) => n + b.batch, 0)).toBe(RECORDS);
    for (const b of batches) expect(b.bytes).toBeLessThanOrEqual(MiB);
    // Each worker: the batch it writes, plus what its pulls fetched ahead (nats.js asks for
    // another pull when a quarter of the last has been taken): three pulls' worth at most.
    // Count-bounded pulls (500 records each) handed the whole flood out at once.
    expect(mostHandedOut).toBeGreaterThan(0);
    expect(mostHandedOut * RECORD).toBeLessThanOrEqual(CONCURRENCY * 3 * MiB);
  }, 180_000);

  it('ingest bounds - one source floods SCRAPE: its records beyond SCRAPE_MAX_PER_SOURCE and any record over SCRAPE_MAX_RECORD_BYTES are refused, another source is still accepted, all stored are ingested', async () => {
    const db = await fx.database();
    const env = { SCRAPE_MAX_PER_SOURCE: '50', SCRAPE_MAX_RECORD_BYTES: '65536', INGEST_MAX_BYTES: String(MiB) };
    const first = fx.ingest(db.url, env);
    await first.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    // Ingest stopped: the flood stays in the stream, as while ingest is down or slow.
    await first.kill('SIGKILL');

    const nc = await connect({ servers: fx.nats.url });
    const js = nc.jetstream();
    const send = (source: string, i: number, extra = '') =>
      js.publish(`scrape.grants.${source}`, JSON.stringify({ ...validRecord(`${source}-${i}`, i), description: `${i}${extra}` }), { timeout: 10_000 }).then(
        () => 'stored' as const,
        (err: Error & { api_error?: { description?: string } }) => err.api_error?.description ?? err.message,
      );
    const flood = await Promise.all(Array.from({ length: 80 }, (_, i) => send('flood', i)));
    expect(flood.filter((r) => r === 'stored').length).toBe(50);
    const refused = flood.filter((r) => r !== 'stored');
    expect(refused.length).toBe(30);
    for (const r of refused) expect(r).toMatch(/maximum messages per subject exceeded/);
    // Another source is not affected by the first one's quota.
    const other = await Promise.all(Array.from({ length: 20 }, (_, i) => send('other', i)));
    expect(other.every((r) => r === 'stored')).toBe(true);
    // A record over the size limit is refused to its publisher.
    expect(await send('other', 99, 'y'.repeat(70_000))).toMatch(/message size exceeds maximum allowed/);
    const info = await (await nc.jetstreamManager()).streams.info('SCRAPE');
    expect(info.state.messages).toBe(70);
    await nc.close();

    fx.ingest(db.url, env);
    await waitIngested(fx.nats.url, 60_000);
    expect(await count(db.url, "SELECT count(*) AS n FROM grants WHERE source = 'flood'")).toBe(50);
    expect(await count(db.url, "SELECT count(*) AS n FROM grants WHERE source = 'other'")).toBe(20);
  }, 120_000);
});
