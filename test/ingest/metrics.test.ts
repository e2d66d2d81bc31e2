/**
 * Ingest's series in /metrics (CONTRACT section 6): `navimpact_db_pool_connections{state}`
 * and `navimpact_ingest_records_total{result}`, and the data-quality series of issue 16
 * (`navimpact_ingest_rejections_total{source,field}`,
 * `navimpact_ingest_source_records_total{source}`), read from the registry of an ingest run
 * in-process against a private nats-server and a fresh database.
 */
import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { createPool } from '../../src/db/pool.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { testLog } from '../support/log.js';
import { ingestFixtures, publish, validRecord, waitIngested } from './harness.js';

const fx = ingestFixtures();

async function series(metrics: ReturnType<typeof createMetrics>, name: string): Promise<Record<string, number>> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(Object.values(v.labels)[0]), v.value]));
}

/** Every sample of a metric, keyed by its label values joined with "/". */
async function samples(metrics: ReturnType<typeof createMetrics>, name: string): Promise<Record<string, number>> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return Object.fromEntries((metric?.values ?? []).map((v) => [Object.values(v.labels).join('/'), v.value]));
}

async function startIngest(url: string, applicationName: string) {
  const metrics = createMetrics();
  const pool = createPool({ url, size: 3, applicationName }, testLog);
  metrics.watchPool(pool);
  const nc = await connect({ servers: fx.nats.url });
  const ingest = new Ingest(
    { batchSize: 100, concurrency: 1, lingerMs: 200, ackWaitMs: 30_000, retryMaxMs: 1_000, duplicateWindowMs: 60_000, maxBytes: 1_048_576 * 16, maxRecordBytes: 1_048_576, maxPerSource: 100_000, pullMaxBytes: 16_777_216, rejectedMaxAgeMs: 3_600_000, replicas: 1 },
    nc,
    pool,
    testLog,
    metrics,
  );
  await ingest.start();
  return {
    metrics,
    async stop() {
      await ingest.stop();
      await nc.close();
      await pool.end();
    },
  };
}

describe('ingest metrics', () => {
  it('ingest metrics - records counted by result, pool connections by state', async () => {
    const db = await fx.database();
    const { metrics, stop } = await startIngest(db.url, 'navimpact-ingest-metrics');
    try {
      const batch = [0, 1, 2, 3, 4].map((i) => ({ source: 'm', payload: validRecord(`r${i}`, i) }));
      await publish(fx.nats.url, [[...batch, batch[0]!, { source: 'm', payload: 'not json' }, { source: 'm', payload: { externalId: 'x' } }]]);
      await waitIngested(fx.nats.url);
      await publish(fx.nats.url, [[batch[1]!, { source: 'm', payload: { ...(batch[2]!.payload as object), title: 'Changed' } }]]);
      await waitIngested(fx.nats.url);
      const records = await series(metrics, 'navimpact_ingest_records_total');
      // First batch: 5 inserted, 1 duplicate collapsed, 2 rejected (or, split over two
      // batches, the duplicate found unchanged instead); second: 1 unchanged, 1 updated.
      expect(records.inserted).toBe(5);
      expect(records.rejected).toBe(2);
      expect(records.updated).toBe(1);
      expect((records.duplicate ?? 0) + (records.unchanged ?? 0)).toBe(2);
      const poolStates = await series(metrics, 'navimpact_db_pool_connections');
      expect(poolStates.max).toBe(3);
      expect(poolStates.total).toBeGreaterThanOrEqual(1);
      expect(poolStates.total).toBeLessThanOrEqual(3);
      expect(poolStates.in_use).toBe(0);
      expect(poolStates.waiting).toBe(0);
      expect(await metrics.registry.metrics()).toMatch(/navimpact_db_pool_connections\{state="idle"\} \d/);
    } finally {
      await stop();
    }
  });

  it('ingest metrics - rejections counted by source and field, records by source', async () => {
    const db = await fx.database();
    const { metrics, stop } = await startIngest(db.url, 'navimpact-ingest-quality');
    try {
      const ok = (source: string, i: number) => ({ source, payload: validRecord(`${source}-${i}`, i) });
      await publish(fx.nats.url, [
        [
          ok('site-a', 0),
          ok('site-a', 1),
          // Two faults in one record: counted once for each field it names.
          { source: 'site-a', payload: { ...validRecord('a-bad', 2), closeDate: '31/02/2027', minAmount: 'lots of money' } },
          { source: 'site-a', payload: { ...validRecord('a-worse', 3), closeDate: 'soon' } },
          { source: 'site-b', payload: 'not json' },
          { source: 'site-b', payload: { ...validRecord('b-bad', 4), locations: 'Victoria, Atlantis' } },
          ok('site-b', 5),
          // Not known yet: kept, not counted as a rejection.
          { source: 'site-b', payload: { ...validRecord('b-tba', 6), closeDate: 'TBA 2023', maxAmount: 'Not Specified yet' } },
        ],
      ]);
      await waitIngested(fx.nats.url);
      expect(await samples(metrics, 'navimpact_ingest_rejections_total')).toEqual({
        'site-a/closeDate': 2,
        'site-a/minAmount': 1,
        'site-b/record': 1,
        'site-b/locations': 1,
      });
      expect(await samples(metrics, 'navimpact_ingest_source_records_total')).toEqual({ 'site-a': 4, 'site-b': 4 });
      const text = await metrics.registry.metrics();
      expect(text).toContain('navimpact_ingest_rejections_total{source="site-a",field="closeDate"} 2');
      expect(text).toContain('navimpact_ingest_source_records_total{source="site-b"} 4');
    } finally {
      await stop();
    }
  });
});
