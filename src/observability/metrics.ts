/**
 * Prometheus metrics (prom-client), one registry per process. Names are fixed by
 * CONTRACT section 6; every role registers its series here so `/metrics` shows them all.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'navimpact_process_' });
  return {
    registry,
    relayLagSeconds: new Gauge({
      name: 'navimpact_relay_lag_seconds',
      help: 'Seconds from a change being written to its acknowledgement by NATS, for the last batch the relay published.',
      registers: [registry],
    }),
    relayLagHistogram: new Histogram({
      name: 'navimpact_relay_publish_lag_seconds',
      help: 'Distribution of seconds from a change being written to its acknowledgement by NATS.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    relayEventsPublished: new Counter({
      name: 'navimpact_relay_events_published_total',
      help: 'Change events the relay published to stream GRANTS.',
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'navimpact_ws_connections',
      help: 'Open WebSocket connections on this gateway.',
      registers: [registry],
    }),
    wsMessagesSent: new Counter({
      name: 'navimpact_ws_messages_sent_total',
      help: 'Frames sent to WebSocket clients (each delivery to each client counts).',
      registers: [registry],
    }),
    wsAuthFailures: new Counter({
      name: 'navimpact_ws_auth_failures_total',
      help: 'WebSocket upgrades refused, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    wsSlowDisconnects: new Counter({
      name: 'navimpact_ws_slow_disconnects_total',
      help: 'Connections closed with 4009 because they could not keep up.',
      registers: [registry],
    }),
    relayLeader: new Gauge({
      name: 'navimpact_relay_leader',
      help: '1 while this process is the relay that publishes, 0 while it stands by.',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
