/**
 * The ingest role end to end: a private nats-server, a fresh database on the shared
 * Postgres, and ingest run as `src/main.ts` with ROLES=ingest (acceptance points 1 and 2).
 */
import { describe, expect, it } from 'vitest';
import { hasCode } from '../support/service.js';
import { count, ingestFixtures, invalidRecord, publish, query, readRejected, sampleConnections, validRecord, waitIngested, type Outgoing } from './harness.js';

const fx = ingestFixtures();

describe.sequential('ingest', () => {
  it('ingest - 16 scrapers x 5,000 records, 20% duplicates, 10% invalid: each valid record once, each invalid one rejected, pool never exceeded', async () => {
    const db = await fx.database();
    const POOL = 4;
    const SCRAPERS = 16;
    const PER = 5_000;
    const sampler = sampleConnections(db.url, db.name, 'navimpact-ingest');
    // More workers than connections: the pool, not the workload, bounds connections.
    const ingest = fx.ingest(db.url, { DATABASE_POOL_SIZE: String(POOL), INGEST_CONCURRENCY: '8', INGEST_BATCH_SIZE: '500' });
    await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');

    const expected = new Map<string, string>(); // source/externalId -> title
    const invalid = new Map<string, string>(); // marker -> path its rejection must name
    const batches: Outgoing[][] = [];
    for (let s = 0; s < SCRAPERS; s++) {
      const source = `source-${s % 4}`; // four sources, four scrapers each
      const mine: Outgoing[] = [];
      const valid: Outgoing[] = [];
      for (let i = 0; i < PER; i++) {
        const externalId = `s${s}-r${i}`;
        const slot = i % 10;
        if (slot === 0) {
          const bad = invalidRecord(externalId, i / 10);
          invalid.set(externalId, bad.path);
          mine.push({ source, payload: bad.payload });
        } else if ((slot === 1 || slot === 2) && valid.length > 0) {
          // A re-scrape of an earlier record: half with the scraper's message id (JetStream
          // drops it), half without (ingest must collapse or leave it unchanged).
          const again = valid[(i * 7919) % valid.length]!;
          mine.push(slot === 1 ? { ...again } : { source: again.source, payload: again.payload });
        } else {
          const record = validRecord(externalId, i);
          const out = { source, payload: record, msgId: `${source}:${externalId}:v1` };
          valid.push(out);
          expected.set(`${source}/${externalId}`, record.title as string);
          mine.push(out);
        }
      }
      batches.push(mine);
    }
    const sent = await publish(fx.nats.url, batches);
    expect(sent.stored + sent.duplicates).toBe(SCRAPERS * PER);
    expect(sent.duplicates).toBeGreaterThan(0);
    await waitIngested(fx.nats.url, 100_000);
    const { peak, samples } = await sampler.stop();

    const rows = await query<{ source: string; external_id: string; title: string; version: string }>(db.url, 'SELECT source, external_id, title, version FROM grants');
    expect(rows.length).toBe(expected.size);
    for (const r of rows) {
      expect(expected.get(`${r.source}/${r.external_id}`), `${r.source}/${r.external_id}`).toBe(r.title);
      expect(r.version).toBe('1');
    }
    // Written once each: one insert event per record, no updates from the duplicates.
    expect(await count(db.url, "SELECT count(*) AS n FROM grant_changes WHERE op = 'insert'")).toBe(expected.size);
    expect(await count(db.url, "SELECT count(*) AS n FROM grant_changes WHERE op <> 'insert'")).toBe(0);

    const rejected = await readRejected(fx.nats.url);
    expect(rejected.length).toBe(invalid.size);
    const seen = new Set<string>();
    for (const r of rejected) {
      const record = r.record;
      const externalId = typeof record === 'string' ? /"externalId": "([^"]+)"/.exec(record)?.[1] : (record as { externalId?: string }).externalId;
      expect(externalId && invalid.has(externalId), JSON.stringify(r).slice(0, 300)).toBe(true);
      expect(seen.has(externalId!), `${externalId} rejected twice`).toBe(false);
      seen.add(externalId!);
      expect(r.subject).toMatch(/^scrape\.rejected\.source-[0-3]$/);
      expect(r.errors.map((e) => e.path)).toContain(invalid.get(externalId!));
      for (const e of r.errors) expect(e.message.length).toBeGreaterThan(0);
    }

    expect(samples).toBeGreaterThan(10);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(POOL);
    console.info(`ingest: ${expected.size} rows, ${rejected.length} rejected, ${sent.duplicates} dropped by JetStream as duplicates, peak ${peak}/${POOL} connections over ${samples} samples`);
  }, 150_000);

  it('ingest - publishing the same records again produces no change event; a changed one produces exactly one', async () => {
    const db = await fx.database();
    const ingest = fx.ingest(db.url, { INGEST_BATCH_SIZE: '200' });
    await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    const records: Outgoing[] = Array.from({ length: 2_000 }, (_, i) => ({ source: 'vic-grants', payload: validRecord(`r${i}`, i) }));
    await publish(fx.nats.url, [records]);
    await waitIngested(fx.nats.url);
    const changes = () => count(db.url, 'SELECT count(*) AS n FROM grant_changes');
    expect(await changes()).toBe(2_000);

    // The same records again, printed differently where printing may differ (locations in
    // another order, spacing), from two scrapers at once.
    const reprinted = records.map((r) => {
      const p = r.payload as Record<string, unknown>;
      const locations = typeof p.locations === 'string' ? p.locations.split(', ').reverse().join(' , ') : p.locations;
      return { ...r, payload: { ...p, title: `  ${p.title as string} `, locations } };
    });
    await publish(fx.nats.url, [reprinted.slice(0, 1_000), reprinted.slice(1_000)]);
    await waitIngested(fx.nats.url);
    expect(await changes()).toBe(2_000);
    expect(await count(db.url, 'SELECT count(*) AS n FROM grants WHERE version <> 1')).toBe(0);

    // The test can see a change: one record edited on the site.
    const edited = { source: 'vic-grants', payload: { ...(records[7]!.payload as object), title: 'Renamed grant' } };
    await publish(fx.nats.url, [[edited]]);
    await waitIngested(fx.nats.url);
    expect(await changes()).toBe(2_001);
    const [row] = await query<{ title: string; version: string }>(db.url, "SELECT title, version FROM grants WHERE external_id = 'r7'");
    expect(row).toEqual({ title: 'Renamed grant', version: '2' });
  }, 90_000);

  it('ingest - a record the database refuses is rejected with the reason; the rest of its batch is written', async () => {
    const db = await fx.database();
    const ingest = fx.ingest(db.url, { INGEST_LINGER: '500ms' });
    await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');
    // A rule the normalisation does not know: stands for drift between code and schema.
    await query(db.url, "ALTER TABLE grants ADD CONSTRAINT test_forbidden_title CHECK (title <> 'Forbidden')");
    const records: Outgoing[] = Array.from({ length: 50 }, (_, i) => ({ source: 'vic-grants', payload: { ...validRecord(`r${i}`, i), ...(i === 17 ? { title: 'Forbidden' } : {}) } }));
    await publish(fx.nats.url, [records]);
    await waitIngested(fx.nats.url);
    expect(await count(db.url, 'SELECT count(*) AS n FROM grants')).toBe(49);
    const rejected = await readRejected(fx.nats.url);
    expect(rejected).toHaveLength(1);
    expect((rejected[0]!.record as { externalId: string }).externalId).toBe('r17');
    expect(rejected[0]!.errors[0]!.message).toMatch(/refused by the database: .*test_forbidden_title/);
    await ingest.waitFor(hasCode('IngestRowRefused'), 5_000, 'the refusal logged');
  });
});
