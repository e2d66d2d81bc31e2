/**
 * The `ingest` role: stream SCRAPE -> `grants`, rejections to `scrape.rejected.<source>`
 * (src/ingest), with its health check (`ingest`: the records waiting in its consumer).
 */
import { Streams } from '../domain/events.js';
import { DURABLE, Ingest } from '../ingest/ingest.js';
import { ingestCheck } from '../ops/health.js';
import type { RoleContext, RunningRole } from './context.js';

export async function startIngest(ctx: RoleContext): Promise<RunningRole> {
  const { config, log, nc, metrics } = ctx;
  const ingest = new Ingest(
    {
      batchSize: config.INGEST_BATCH_SIZE,
      concurrency: config.INGEST_CONCURRENCY,
      lingerMs: config.INGEST_LINGER,
      ackWaitMs: config.INGEST_ACK_WAIT,
      retryMaxMs: config.INGEST_RETRY_MAX,
      duplicateWindowMs: config.SCRAPE_DUPLICATE_WINDOW,
      maxBytes: config.SCRAPE_MAX_BYTES,
      maxRecordBytes: config.SCRAPE_MAX_RECORD_BYTES,
      maxPerSource: config.SCRAPE_MAX_PER_SOURCE,
      pullMaxBytes: config.INGEST_MAX_BYTES,
      rejectedMaxAgeMs: config.SCRAPE_REJECTED_MAX_AGE,
      replicas: config.NATS_STREAM_REPLICAS,
    },
    nc,
    ctx.pools.for('ingest'),
    log.child({ role: 'ingest' }),
    metrics,
  );
  const jsm = await nc.jetstreamManager();
  ctx.health.add(
    'ingest',
    ingestCheck(async () => {
      const info = await jsm.consumers.info(Streams.scrape, DURABLE);
      return { waiting: info.num_pending, inFlight: info.num_ack_pending };
    }),
  );
  await ingest.start();
  return { stop: () => ingest.stop() };
}
