/**
 * Prometheus metrics (prom-client), one registry per process. Names are fixed by
 * CONTRACT section 6; every role registers its series here so `/metrics` shows them all.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What `navimpact_db_pool_connections` reads of a pg.Pool. */
export interface WatchedPool {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options: { max?: number };
  /** Statements sent through the pool's `query` (db/pool.ts CountingPool). */
  readonly statements?: number;
}

export function createMetrics() {
  const registry = new Registry();
  const watchedPools: WatchedPool[] = [];
  let statementsCounted = 0;
  collectDefaultMetrics({ register: registry, prefix: 'navimpact_process_' });
  return {
    registry,
    processId: new Gauge({
      name: 'navimpact_process_pid',
      help: 'The process id: tells apart processes that share one HOST:PORT (HTTP_REUSE_PORT), which a scrape by address cannot.',
      registers: [registry],
      collect() {
        this.set(process.pid);
      },
    }),
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
    cacheRequests: new Counter({
      name: 'navimpact_cache_requests_total',
      help: 'Cache look-ups by kind (grant, list) and result (local_hit: served by the gateway\'s in-process layer; hit, miss, error: Redis unreachable or too slow).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    cacheFills: new Counter({
      name: 'navimpact_cache_fills_total',
      help: 'Cache fills by result: stored, stale (the cache holds the same or a newer version), late (read too long ago), error.',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    cacheUp: new Gauge({
      name: 'navimpact_cache_redis_up',
      help: '1 while this process is connected to Redis.',
      registers: [registry],
    }),
    invalidationLag: new Histogram({
      name: 'navimpact_cache_invalidation_lag_seconds',
      help: 'Seconds from a change being committed to its invalidation being applied in Redis.',
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10],
      registers: [registry],
    }),
    invalidationWatermark: new Gauge({
      name: 'navimpact_cache_invalidation_watermark',
      help: 'Stream sequence up to which this invalidator has applied every change.',
      registers: [registry],
    }),
    scraperUp: new Gauge({
      name: 'navimpact_scraper_up',
      help: '1 while a scraper source last reported ok within SCRAPER_STALE_AFTER, 0 otherwise (as this gateway saw it).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    sseStreams: new Gauge({
      name: 'navimpact_sse_streams',
      help: 'Open Server-Sent Events streams (GET /v1/live/sse) on this gateway.',
      registers: [registry],
    }),
    feedRestarts: new Counter({
      name: 'navimpact_feed_restarts_total',
      help: "Times this process's feed of stream GRANTS failed and restarted itself (log code GatewayFeedFailed).",
      registers: [registry],
    }),
    feedReplays: new Gauge({
      name: 'navimpact_feed_replays',
      help: 'Replays of stream GRANTS running now in this process (resuming clients, /v1/changes beyond the recent events); bounded.',
      registers: [registry],
    }),
    feedWaiters: new Gauge({
      name: 'navimpact_feed_waiters',
      help: 'Resuming clients waiting for this process feed to reach the position they resume from.',
      registers: [registry],
    }),
    feedEventsInvalid: new Counter({
      name: 'navimpact_feed_events_invalid_total',
      help: 'Messages on stream GRANTS that were not valid change events; skipped by this process (log code FeedEventInvalid).',
      registers: [registry],
    }),
    longPollsWaiting: new Gauge({
      name: 'navimpact_http_long_polls_waiting',
      help: 'GET /v1/changes requests waiting for a change.',
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'navimpact_http_requests_total',
      help: 'REST requests by route and status.',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    relayLeader: new Gauge({
      name: 'navimpact_relay_leader',
      help: '1 while this process is the relay that publishes, 0 while it stands by.',
      registers: [registry],
    }),
    dbPoolConnections: new Gauge({
      name: 'navimpact_db_pool_connections',
      help: 'Connections of the process pools, by state: max (the fixed size), total (open), idle, in_use, waiting (requests queued for a connection).',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const sum = { max: 0, total: 0, idle: 0, in_use: 0, waiting: 0 };
        for (const pool of watchedPools) {
          sum.max += pool.options.max ?? 0;
          sum.total += pool.totalCount;
          sum.idle += pool.idleCount;
          sum.in_use += pool.totalCount - pool.idleCount;
          sum.waiting += pool.waitingCount;
        }
        for (const [state, value] of Object.entries(sum)) this.set({ state }, value);
      },
    }),
    dbStatements: new Counter({
      name: 'navimpact_db_statements_total',
      help: "Statements this process sent through its pools' query (REST reads, health checks, ...); flat while only live events flow.",
      registers: [registry],
      collect() {
        const total = watchedPools.reduce((sum, pool) => sum + (pool.statements ?? 0), 0);
        if (total > statementsCounted) this.inc(total - statementsCounted);
        statementsCounted = total;
      },
    }),
    /** Reports `pool` in `navimpact_db_pool_connections`. */
    watchPool(pool: WatchedPool): void {
      if (!watchedPools.includes(pool)) watchedPools.push(pool);
    },
    ingestRecords: new Counter({
      name: 'navimpact_ingest_records_total',
      help: 'Scrape records ingested, by result: inserted, updated, unchanged (content equal, nothing written), duplicate (superseded by a later copy in the same batch), rejected.',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    ingestRejections: new Counter({
      name: 'navimpact_ingest_rejections_total',
      help: 'Scrape records rejected, by source and by field named in the rejection (record: the record as a whole). A record rejected on two fields counts once for each.',
      labelNames: ['source', 'field'] as const,
      registers: [registry],
    }),
    ingestSourceRecords: new Counter({
      name: 'navimpact_ingest_source_records_total',
      help: 'Scrape records taken from stream SCRAPE and acknowledged, by source: the denominator of a source\'s rejection ratio.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    ingestBatchSeconds: new Histogram({
      name: 'navimpact_ingest_batch_seconds',
      help: 'Seconds from a batch being taken from stream SCRAPE to its acknowledgement, retries included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
