/** The `ingest` role: stream SCRAPE -> `grants`, rejections to `scrape.rejected.<source>` (src/ingest). */
import { Ingest } from '../ingest/ingest.js';
import type { RoleContext, RunningRole } from './context.js';

export async function startIngest({ config, log, nc, pool, metrics }: RoleContext): Promise<RunningRole> {
  const ingest = new Ingest(
    {
      batchSize: config.INGEST_BATCH_SIZE,
      concurrency: config.INGEST_CONCURRENCY,
      lingerMs: config.INGEST_LINGER,
      ackWaitMs: config.INGEST_ACK_WAIT,
      retryMaxMs: config.INGEST_RETRY_MAX,
      duplicateWindowMs: config.SCRAPE_DUPLICATE_WINDOW,
      maxBytes: config.SCRAPE_MAX_BYTES,
      rejectedMaxAgeMs: config.SCRAPE_REJECTED_MAX_AGE,
      replicas: config.NATS_STREAM_REPLICAS,
    },
    nc,
    pool,
    log.child({ role: 'ingest' }),
    metrics,
  );
  await ingest.start();
  return { stop: () => ingest.stop() };
}
