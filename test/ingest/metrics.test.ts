/**
 * Ingest's series in /metrics (CONTRACT section 6): `navimpact_db_pool_connections{state}`
 * and `navimpact_ingest_records_total{result}`, read from the registry of an ingest run
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

describe('ingest metrics', () => {
  it('ingest metrics - records counted by result, pool connections by state', async () => {
    const db = await fx.database();
    const metrics = createMetrics();
    const pool = createPool({ url: db.url, size: 3, applicationName: 'navimpact-ingest-metrics' }, testLog);
    metrics.watchPool(pool);
    const nc = await connect({ servers: fx.nats.url });
    const ingest = new Ingest(
      { batchSize: 100, concurrency: 1, lingerMs: 200, ackWaitMs: 30_000, retryMaxMs: 1_000, duplicateWindowMs: 60_000, maxBytes: 1_048_576 * 16, rejectedMaxAgeMs: 3_600_000, replicas: 1 },
      nc,
      pool,
      testLog,
      metrics,
    );
    try {
      await ingest.start();
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
      await ingest.stop();
      await nc.close();
      await pool.end();
    }
  });
});
