/** The `invalidator` role: stream GRANTS -> the Redis cache's tombstones and watermark (src/cache). */
import { ensureGrantsStream } from '../bus/streams.js';
import { NatsChangeSource, RedisInvalidationStore } from '../cache/invalidation-store.js';
import { Invalidator } from '../cache/invalidator.js';
import { fillWindowMs } from '../cache/store.js';
import type { RoleContext, RunningRole } from './context.js';

/** Most events applied in one script call. */
const BATCH_SIZE = 500;

export async function startInvalidator({ config, log: processLog, nc, metrics }: RoleContext): Promise<RunningRole> {
  const log = processLog.child({ role: 'invalidator' });
  await ensureGrantsStream(await nc.jetstreamManager(), { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, log);
  const store = new RedisInvalidationStore(config.REDIS_URL, config.CACHE_PREFIX, config.CACHE_TOMBSTONE_TTL);
  const source = new NatsChangeSource(nc, BATCH_SIZE * 2);
  const invalidator = new Invalidator(store, source, { batchSize: BATCH_SIZE, fillWindowMs: fillWindowMs(config.CACHE_TOMBSTONE_TTL) }, log, metrics);
  store.connect();
  invalidator.start();
  return {
    async stop() {
      await invalidator.stop();
      store.close();
    },
  };
}
