/** The `relay` role: the change log in Postgres -> stream GRANTS (src/capture). */
import { Relay } from '../capture/relay.js';
import type { RoleContext, RunningRole } from './context.js';

export function startRelay({ config, log, nc, metrics }: RoleContext): RunningRole {
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
  relay.start();
  return { stop: () => relay.stop() };
}
