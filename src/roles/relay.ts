/**
 * The `relay` role: the change log in Postgres -> stream GRANTS (src/capture), with its
 * health check (`relay`: the backlog, and whether this process leads or stands by) and
 * the backlog's gauges, read at each scrape through the process's monitoring pool.
 */
import { Relay } from '../capture/relay.js';
import { relayBacklog, relayCheck } from '../ops/health.js';
import type { RoleContext, RunningRole } from './context.js';

export function startRelay(ctx: RoleContext): RunningRole {
  const { config, log, nc, pools, metrics } = ctx;
  const relay = new Relay(
    {
      databaseUrl: config.DATABASE_URL,
      batchSize: config.RELAY_BATCH_SIZE,
      leaderPollMs: config.RELAY_LEADER_POLL,
      safetyPollMs: config.RELAY_SAFETY_POLL,
      maxAgeMs: config.GRANTS_MAX_AGE,
      replicas: config.NATS_STREAM_REPLICAS,
    },
    nc,
    log.child({ role: 'relay' }),
    metrics,
  );
  ctx.health.add('relay', relayCheck(pools.monitor, () => relay.leading));
  ctx.collect(async () => {
    const { pending, oldestSeconds } = await relayBacklog(pools.monitor);
    metrics.relayBacklog.set(pending);
    metrics.relayBacklogAge.set(oldestSeconds ?? 0);
  });
  relay.start();
  return { stop: () => relay.stop() };
}
