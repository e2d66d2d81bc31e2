/**
 * The service's Prometheus series, grouped by who reports them: every process, and each
 * role. Names of CONTRACT section 6 are fixed; the rest are catalogued in
 * docs/operations.md. Each factory makes its series unregistered; `createMetrics`
 * (metrics.ts) registers the groups of the process's roles, so a process's `/metrics`
 * shows its own series only.
 */
import { Counter, Gauge, Histogram } from 'prom-client';

const none = { registers: [] };

/**
 * A count kept by a hot path as a plain number and handed to its prom-client series at each
 * scrape (the series' `collect`). prom-client's own `inc` and `dec` allocate a labels object,
 * a hash string and a result object on every call: about 250 bytes a WebSocket handshake, the
 * garbage that grows V8's young generation in a storm (issue 15). A Tally allocates nothing.
 * With `label`, a count per value of that one label (as few values as the series has).
 */
export class Tally<V extends string = never> {
  private total = 0;
  private taken = 0;
  private readonly byValue = new Map<V, number>();
  private readonly takenByValue = new Map<V, number>();

  inc(by = 1): void {
    this.total += by;
  }

  dec(by = 1): void {
    this.total -= by;
  }

  /** One more for `value` of the label. */
  incFor(value: V, by = 1): void {
    this.byValue.set(value, (this.byValue.get(value) ?? 0) + by);
  }

  get value(): number {
    return this.total;
  }

  /** What was added since the last call (a counter's `collect` adds it to its series). */
  take(): number {
    const delta = this.total - this.taken;
    this.taken = this.total;
    return delta;
  }

  /** As `take`, per value of the label. */
  takeEach(each: (value: V, delta: number) => void): void {
    for (const [value, total] of this.byValue) {
      const delta = total - (this.takenByValue.get(value) ?? 0);
      this.takenByValue.set(value, total);
      if (delta !== 0) each(value, delta);
    }
  }
}

/** What `navimpact_db_pool_connections` reads of a pg.Pool. */
export interface WatchedPool {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options: { max?: number };
  /** Statements sent through the pool's `query` (db/pool.ts CountingPool). */
  readonly statements?: number;
}

/** Series of every process: its pool, its HTTP routes (`/health`, `/metrics`, REST) and the tokens they refused, its health checks, its start. */
export function processSeries(watchedPools: WatchedPool[]) {
  let statementsCounted = 0;
  return {
    processId: new Gauge({
      ...none,
      name: 'navimpact_process_pid',
      help: 'The process id: tells apart processes that share one HOST:PORT (HTTP_REUSE_PORT), which a scrape by address cannot.',
      collect() {
        this.set(process.pid);
      },
    }),
    dbStatements: new Counter({
      ...none,
      name: 'navimpact_db_statements_total',
      help: "Statements this process sent through its pools' query (REST reads, ingest upserts, ...), not /health's probes; flat while only live events flow.",
      collect() {
        const total = watchedPools.reduce((sum, pool) => sum + (pool.statements ?? 0), 0);
        if (total > statementsCounted) this.inc(total - statementsCounted);
        statementsCounted = total;
      },
    }),
    startTime: new Gauge({
      ...none,
      name: 'navimpact_process_start_time_seconds',
      help: 'Unix time at which this process started (a change means a restart).',
    }),
    buildInfo: new Gauge({
      ...none,
      name: 'navimpact_build_info',
      help: 'Always 1; its labels name the release and the roles this process runs.',
      labelNames: ['release', 'roles'] as const,
    }),
    healthCheck: new Gauge({
      ...none,
      name: 'navimpact_health_check',
      help: 'Status of each /health check of this process at the last scrape: 1 on the series of its current status (ok, degraded, down), 0 on the others.',
      labelNames: ['check', 'status'] as const,
    }),
    wsAuthFailures: new Counter({
      ...none,
      name: 'navimpact_ws_auth_failures_total',
      help: 'Tokens refused, by reason: WebSocket upgrades, and REST and /metrics requests of this process.',
      labelNames: ['reason'] as const,
    }),
    httpRequests: new Counter({
      ...none,
      name: 'navimpact_http_requests_total',
      help: 'HTTP requests answered, by route and status (REST, /health, /metrics, CORS preflights).',
      labelNames: ['route', 'status'] as const,
    }),
    httpDuration: new Histogram({
      ...none,
      name: 'navimpact_http_request_duration_seconds',
      help: 'Seconds from an HTTP request arriving to its answer being written, by route (long-polls of /v1/changes include their wait).',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    dbPoolConnections: new Gauge({
      ...none,
      name: 'navimpact_db_pool_connections',
      help: 'Connections of the process pools, by state: max (the fixed size), total (open), idle, in_use, waiting (requests queued for a connection).',
      labelNames: ['state'] as const,
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
  };
}

/** Series of the `relay` role. */
export function relaySeries() {
  return {
    relayLagSeconds: new Gauge({
      ...none,
      name: 'navimpact_relay_lag_seconds',
      help: 'Seconds from a change being written to its acknowledgement by NATS, for the last batch the relay published.',
    }),
    relayLagHistogram: new Histogram({
      ...none,
      name: 'navimpact_relay_publish_lag_seconds',
      help: 'Distribution of seconds from a change being written to its acknowledgement by NATS.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    relayEventsPublished: new Counter({
      ...none,
      name: 'navimpact_relay_events_published_total',
      help: 'Change events the relay published to stream GRANTS.',
    }),
    relayLeader: new Gauge({
      ...none,
      name: 'navimpact_relay_leader',
      help: '1 while this process is the relay that publishes, 0 while it stands by.',
    }),
    relayStreamSeq: new Gauge({
      ...none,
      name: 'navimpact_relay_stream_seq',
      help: 'Highest seq this relay recorded as issued (the stream position in relay_state); kept by Prometheus, it is one of the records a restore reads (docs/operations.md).',
    }),
    relayBacklog: new Gauge({
      ...none,
      name: 'navimpact_relay_backlog_changes',
      help: 'Changes committed in Postgres and not yet published to stream GRANTS (or published, until the next pass records them), read at each scrape.',
    }),
    relayBacklogAge: new Gauge({
      ...none,
      name: 'navimpact_relay_backlog_age_seconds',
      help: 'Age of the oldest change not yet published to stream GRANTS, read at each scrape (0 when none waits).',
    }),
  };
}

/** Series of the `gateway` role: WebSocket clients, the cache's read side, REST, the feed, the scrapers. */
export function gatewaySeries() {
  const wsConnections = new Tally();
  const wsMessagesSent = new Tally();
  const admissions = new Tally<'admitted' | 'draining' | 'over_capacity'>();
  return {
    /** Counted on every open, close and frame sent: plain numbers (Tally), read by the series below at each scrape. */
    wsConnections,
    wsMessagesSent,
    admissions,
    wsConnectionsSeries: new Gauge({
      ...none,
      name: 'navimpact_ws_connections',
      help: 'Open WebSocket connections on this gateway.',
      collect() {
        this.set(wsConnections.value);
      },
    }),
    sseStreams: new Gauge({ ...none, name: 'navimpact_sse_streams', help: 'Open Server-Sent Events streams (GET /v1/live/sse) on this gateway.' }),
    admissionsSeries: new Counter({
      ...none,
      name: 'navimpact_gateway_admissions_total',
      help: 'New WebSocket upgrades and SSE streams past the Origin check, by admission result: admitted, over_capacity (more than GATEWAY_ACCEPT_RATE in the last second), draining. The rate of result="admitted" never exceeds GATEWAY_ACCEPT_RATE.',
      labelNames: ['result'] as const,
      collect() {
        admissions.takeEach((result, delta) => this.inc({ result }, delta));
      },
    }),
    feedEventsInvalid: new Counter({
      ...none,
      name: 'navimpact_feed_events_invalid_total',
      help: 'Messages on stream GRANTS that were not valid change events; skipped by this process (log code FeedEventInvalid).',
    }),
    feedRestarts: new Counter({
      ...none,
      name: 'navimpact_feed_restarts_total',
      help: "Times this process's feed of stream GRANTS failed and restarted itself (log code GatewayFeedFailed).",
    }),
    feedWaiters: new Gauge({
      ...none,
      name: 'navimpact_feed_waiters',
      help: 'Resuming clients waiting for this process feed to reach the position they resume from.',
    }),
    feedReplays: new Gauge({
      ...none,
      name: 'navimpact_feed_replays',
      help: 'Replays of stream GRANTS running now in this process (resuming clients, /v1/changes beyond the recent events); bounded.',
    }),
    wsMessagesSentSeries: new Counter({
      ...none,
      name: 'navimpact_ws_messages_sent_total',
      help: 'Frames sent to WebSocket clients (each delivery to each client counts).',
      collect() {
        const delta = wsMessagesSent.take();
        if (delta > 0) this.inc(delta);
      },
    }),
    wsSlowDisconnects: new Counter({
      ...none,
      name: 'navimpact_ws_slow_disconnects_total',
      help: 'Connections closed with 4009 because they could not keep up.',
    }),
    cacheRequests: new Counter({
      ...none,
      name: 'navimpact_cache_requests_total',
      help: "Cache look-ups by kind (grant, list) and the layer that answered (result: local_hit, the gateway's in-process layer; hit, Redis; miss, Postgres; error, Postgres because Redis was unreachable or too slow).",
      labelNames: ['kind', 'result'] as const,
    }),
    cacheFills: new Counter({
      ...none,
      name: 'navimpact_cache_fills_total',
      help: 'Cache fills by result: stored, stale (the cache holds the same or a newer version), late (read too long ago), error.',
      labelNames: ['result'] as const,
    }),
    cacheUp: new Gauge({ ...none, name: 'navimpact_cache_redis_up', help: '1 while this process is connected to Redis.' }),
    scraperUp: new Gauge({
      ...none,
      name: 'navimpact_scraper_up',
      help: '1 while a scraper source last reported ok within SCRAPER_STALE_AFTER, 0 otherwise (as this gateway saw it).',
      labelNames: ['source'] as const,
    }),
    scraperState: new Gauge({
      ...none,
      name: 'navimpact_scraper_state',
      help: 'Last state each scraper source published on scrape.status.<source>: 1 on the series of its state (ok, degraded, blocked, failing), 0 on the others.',
      labelNames: ['source', 'state'] as const,
    }),
    scraperLastOk: new Gauge({
      ...none,
      name: 'navimpact_scraper_last_ok_timestamp_seconds',
      help: 'Unix time of the last ok status of each scraper source (0 when none was seen).',
      labelNames: ['source'] as const,
    }),
    restRateLimited: new Counter({
      ...none,
      name: 'navimpact_http_rate_limited_total',
      help: 'REST requests refused with 429 over REST_RATE_LIMIT, by route and by what the limit was keyed on (subject: the token sub; address: the client address of a request without a valid token).',
      labelNames: ['route', 'by'] as const,
    }),
    longPollsWaiting: new Gauge({ ...none, name: 'navimpact_http_long_polls_waiting', help: 'GET /v1/changes requests waiting for a change.' }),
    feedLive: new Gauge({ ...none, name: 'navimpact_feed_live', help: "1 while this gateway's feed of stream GRANTS delivers events, 0 when it stopped or failed." }),
    feedHead: new Gauge({ ...none, name: 'navimpact_feed_head_seq', help: "Stream sequence of the last event this gateway's feed delivered." }),
    feedResets: new Counter({
      ...none,
      name: 'navimpact_feed_resets_total',
      help: 'Times the feed found stream GRANTS discontinuous (moved forward after a loss or a restore) and reset what it serves: clients closed with 1001, in-process layer emptied.',
    }),
  };
}

/** Series of the `invalidator` role. */
export function invalidatorSeries() {
  return {
    invalidationLag: new Histogram({
      ...none,
      name: 'navimpact_cache_invalidation_lag_seconds',
      help: 'Seconds from a change being committed to its invalidation being applied in Redis.',
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10],
    }),
    invalidationWatermark: new Gauge({
      ...none,
      name: 'navimpact_cache_invalidation_watermark',
      help: 'Stream sequence up to which this invalidator has applied every change.',
    }),
    invalidatorBehind: new Gauge({
      ...none,
      name: 'navimpact_invalidator_behind_events',
      help: 'Events stream GRANTS holds that this invalidator has not applied yet, read at each scrape.',
    }),
    invalidatorLag: new Gauge({
      ...none,
      name: 'navimpact_invalidator_lag_seconds',
      help: 'Age of the oldest event of stream GRANTS this invalidator has not applied yet, read at each scrape (0 when caught up).',
    }),
  };
}

/** Series of the `ingest` role. */
export function ingestSeries() {
  return {
    ingestRecords: new Counter({
      ...none,
      name: 'navimpact_ingest_records_total',
      help: 'Scrape records ingested, by result: inserted, updated, unchanged (content equal, nothing written), duplicate (superseded by a later copy in the same batch), rejected.',
      labelNames: ['result'] as const,
    }),
    ingestRejections: new Counter({
      ...none,
      name: 'navimpact_ingest_rejections_total',
      help: 'Scrape records rejected, by source and by field named in the rejection (record: the record as a whole). A record rejected on two fields counts once for each.',
      labelNames: ['source', 'field'] as const,
    }),
    ingestSourceRecords: new Counter({
      ...none,
      name: 'navimpact_ingest_source_records_total',
      help: "Scrape records taken from stream SCRAPE and acknowledged, by source: the denominator of a source's rejection ratio.",
      labelNames: ['source'] as const,
    }),
    ingestBatchSeconds: new Histogram({
      ...none,
      name: 'navimpact_ingest_batch_seconds',
      help: 'Seconds from a batch being taken from stream SCRAPE to its acknowledgement, retries included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
  };
}
