/**
 * The `invalidator` role: stream GRANTS -> the Redis cache's tombstones and watermark
 * (src/cache), with its health check (`invalidator`: Redis reachable, how far behind) and
 * its lag gauges, read at each scrape.
 */
import { ensureGrantsStream } from '../bus/streams.js';
import { NatsChangeSource, RedisInvalidationStore } from '../cache/invalidation-store.js';
import { Invalidator } from '../cache/invalidator.js';
import { fillWindowMs } from '../cache/store.js';
import { Streams } from '../domain/events.js';
import { invalidatorCheck, type InvalidatorProbe } from '../ops/health.js';
import type { RoleContext, RunningRole } from './context.js';

/** Most events applied in one script call. */
const BATCH_SIZE = 500;

export async function startInvalidator(ctx: RoleContext): Promise<RunningRole> {
  const { config, nc, metrics } = ctx;
  const log = ctx.log.child({ role: 'invalidator' });
  const jsm = await nc.jetstreamManager();
  await ensureGrantsStream(jsm, { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, log);
  const store = new RedisInvalidationStore(config.REDIS_URL, config.CACHE_PREFIX, config.CACHE_TOMBSTONE_TTL);
  const source = new NatsChangeSource(nc, BATCH_SIZE * 2, log);
  const invalidator = new Invalidator(store, source, { batchSize: BATCH_SIZE, fillWindowMs: fillWindowMs(config.CACHE_TOMBSTONE_TTL) }, log, metrics);

  const probe: InvalidatorProbe = {
    watermark: () => store.watermark(),
    async lag() {
      const { first, last } = await source.bounds();
      const next = Math.max(invalidator.position + 1, first);
      if (next > last) return { behind: 0, seconds: 0 };
      const oldest = await jsm.streams.getMessage(Streams.grants, { seq: next }).catch(() => null);
      return { behind: last - next + 1, seconds: oldest ? Math.max(0, (Date.now() - oldest.time.getTime()) / 1_000) : 0 };
    },
  };
  ctx.health.add('invalidator', invalidatorCheck(probe));
  ctx.collect(async () => {
    const { behind, seconds } = await probe.lag();
    metrics.invalidatorBehind.set(behind);
    metrics.invalidatorLag.set(seconds);
  });

  store.connect();
  invalidator.start();
  return {
    async stop() {
      await invalidator.stop();
      store.close();
    },
  };
}
