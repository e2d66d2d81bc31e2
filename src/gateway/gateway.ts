/**
 * The WebSocket gateway: `/v1/live` on the process's HTTP server (CONTRACT section 5,
 * docs/protocol.md).
 *
 * # Lifecycle of a connection
 * upgrade (upgrade.ts: Origin, token, per-`sub` limit; refused with 401/403/429/503 before
 * any upgrade) -> open (welcome) -> frames (inbound.ts, subscriptions.ts) -> close. The
 * close handler is the one cleanup: it runs however the connection ends (client close, TCP
 * reset, heartbeat timeout, 4009, 4001, 4008, 4400, 1009, shutdown), releases every
 * per-connection structure and updates the metrics.
 *
 * # Events
 * The process's feed calls `dispatch` for every event (delivery.ts); the heartbeat tick
 * (heartbeat.ts) closes the silent, the expired and the slow.
 */
import type { TokenVerifier } from '../auth/verifier.js';
import type { Config } from '../config/schema.js';
import { CloseCode } from '../domain/codes.js';
import { serverFrame } from '../domain/frames.js';
import type { ChangeFeed, FeedItem } from '../feed/types.js';
import { Cors } from '../http/cors.js';
import type { TemplatedApp } from '../http/uws.js';
import { sleep } from '../lifecycle/retry.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { slotsInUse, stateOf, type Held, type Socket } from './connection.js';
import { Admission } from './admission.js';
import { Delivery } from './delivery.js';
import { Heartbeat } from './heartbeat.js';
import { Inbound } from './inbound.js';
import { Sockets } from './sockets.js';
import { SseStreams } from './sse.js';
import { Subscriptions } from './subscriptions.js';
import { Upgrades } from './upgrade.js';
import { Views } from './views.js';

export type GatewayOptions = Pick<
  Config,
  | 'CORS_ORIGINS'
  | 'GATEWAY_HEARTBEAT'
  | 'GATEWAY_MAX_FRAME'
  | 'GATEWAY_MAX_BUFFER'
  | 'GATEWAY_RATE_LIMIT'
  | 'GATEWAY_MAX_SUBSCRIPTIONS'
  | 'GATEWAY_MAX_CONNECTIONS_PER_SUB'
  | 'GATEWAY_EXPIRING_NOTICE'
  | 'GATEWAY_REPLAY_LIMIT'
  | 'GATEWAY_ACCEPT_RATE'
>;

export interface GatewayDeps {
  /** The process's HTTP app, which `/v1/live` is mounted on. */
  app: TemplatedApp;
  feed: ChangeFeed;
  verifier: TokenVerifier;
  log: Logger;
  metrics: Metrics;
}

/** uWS's payload limit is a safety net above GATEWAY_MAX_FRAME, never above this. */
const MAX_UWS_PAYLOAD = 16_777_216;
/** Room above twice GATEWAY_MAX_BUFFER before uWS's own hard stop (a large frame in flight). */
const HARD_STOP_ROOM = 4_194_304;
/** Frames beyond GATEWAY_MAX_SUBSCRIPTIONS a reconnecting client may send at once (ping, auth). */
const BURST_SPARE = 8;
/** A drain closes at least this many clients a second, however long SHUTDOWN_DRAIN is. */
const DRAIN_MIN_RATE = 100;
/** After the last close of a drain, how long the close handshakes may take. */
const DRAIN_GRACE_MS = 2_000;

export class Gateway {
  private readonly sockets: Sockets;
  private readonly subscriptions: Subscriptions;
  private readonly upgrades: Upgrades;
  private readonly delivery: Delivery;
  private readonly heartbeat: Heartbeat;
  private readonly admission: Admission;
  /** The filtered views held by this gateway's connections (and its SSE streams). */
  readonly views = new Views();
  private readonly sse: SseStreams;

  constructor(options: GatewayOptions, deps: GatewayDeps) {
    // Frames a client may send at once: twice the rate, and never fewer than a reconnecting
    // client needs to restore all its subscriptions (plus a few for ping and auth).
    const burst = Math.max(2 * options.GATEWAY_RATE_LIMIT, options.GATEWAY_MAX_SUBSCRIPTIONS + BURST_SPARE);
    this.sockets = new Sockets(options.GATEWAY_MAX_BUFFER, 2 * options.GATEWAY_HEARTBEAT, deps.metrics, deps.log);
    this.subscriptions = new Subscriptions(options, deps.feed, this.views, this.sockets, deps.log);
    this.admission = new Admission(options.GATEWAY_ACCEPT_RATE, deps.metrics.admissions);
    this.upgrades = new Upgrades(options, this.admission, deps.verifier, this.sockets, deps.metrics, burst, deps.log);
    this.delivery = new Delivery(deps.app, options.GATEWAY_MAX_BUFFER, this.sockets, this.subscriptions, this.views, deps.metrics);
    this.sse = new SseStreams(options, deps.feed, this.views, this.admission, deps.verifier, this.sockets, new Cors(options.CORS_ORIGINS), deps.metrics, deps.log);
    this.sse.mount(deps.app);
    this.heartbeat = new Heartbeat(options, deps.app, deps.feed, this.sockets, this.delivery, this.sse);
    const inbound = new Inbound(options, deps.verifier, this.sockets, this.subscriptions, burst);
    const log = deps.log;

    deps.app.ws<Held>('/v1/live', {
      // uWS drops the TCP connection (no close frame) past its own limit; the gateway checks
      // GATEWAY_MAX_FRAME itself to answer 1009, and keeps uWS's limit as the hard stop.
      maxPayloadLength: Math.min(16 * options.GATEWAY_MAX_FRAME, MAX_UWS_PAYLOAD),
      // The hard stop, past which uWS drops and closes without a close frame; the sweep closes
      // with 4009 long before (it runs each time an eighth of the bound was published).
      maxBackpressure: options.GATEWAY_MAX_BUFFER * 2 + HARD_STOP_ROOM,
      closeOnBackpressureLimit: 1,
      // Heartbeats are the gateway's own (heartbeat.ts); uWS's idle timer is off.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.upgrades.handle(res, req, context),
      open: (ws) => {
        const c = stateOf(ws);
        this.sockets.opened(ws);
        this.sockets.send(ws, serverFrame.welcome(c.session, options.GATEWAY_HEARTBEAT, c.expiresAt));
      },
      message: (ws, message, isBinary) => inbound.message(ws, message, isBinary),
      pong: (ws) => {
        stateOf(ws).lastHeard = Date.now();
      },
      drain: (ws) => this.sockets.drained(ws as Socket),
      // The one cleanup, for every way a connection ends. Idempotent.
      close: (ws, code) => {
        const c = stateOf(ws);
        if (c.closed) return;
        c.closed = true;
        this.subscriptions.released(ws as Socket);
        this.sockets.removed(ws as Socket);
        c.release();
        if (log.isLevelEnabled('debug')) log.debug({ session: c.session, code }, 'connection closed');
      },
    });
  }

  /** Starts the heartbeat tick; the feed's events arrive through `dispatch`. */
  start(): void {
    this.heartbeat.start();
  }

  /** Every message of the feed, in order (one that is not a valid change event reaches no client). */
  dispatch(item: FeedItem): void {
    if (!item.change) return;
    this.delivery.dispatch(item);
    this.sse.dispatch(item);
  }

  /**
   * The drain (CONTRACT v1.1 section 1): refuses new upgrades (503 + Retry-After) and closes
   * every client with 1001, spread evenly over `durationMs` — at least DRAIN_MIN_RATE a
   * second, so that a small gateway does not linger — so that they do not all reconnect
   * elsewhere in the same instant. Resolves once every client is gone.
   */
  async drain(durationMs: number): Promise<void> {
    this.admission.draining = true;
    const clients = [...this.sockets.open];
    const streams = this.sse.size;
    const total = clients.length + streams;
    if (total > 0) {
      const spacingMs = Math.min(durationMs / total, 1_000 / DRAIN_MIN_RATE);
      const start = Date.now();
      for (let i = 0; i < clients.length; i++) {
        const due = start + i * spacingMs;
        if (due > Date.now()) await sleep(due - Date.now());
        this.sockets.kill(clients[i]!, CloseCode.ServerShutdown);
      }
      const due = start + clients.length * spacingMs;
      await this.sse.drain(Math.max(0, start + total * spacingMs - Math.max(due, Date.now())));
    }
    await Promise.race([this.sockets.whenEmpty(), sleep(DRAIN_GRACE_MS)]);
  }

  /** Refuses new upgrades and closes every client with 1001 at once (after a drain, or in tests). */
  stop(): void {
    this.admission.draining = true;
    this.heartbeat.stop();
    for (const ws of [...this.sockets.open]) this.sockets.kill(ws, CloseCode.ServerShutdown);
    this.sse.stop();
  }

  /**
   * Stream GRANTS broke (feed/continuity.ts): every client is closed with 1001, so that it
   * reconnects and resumes, and learns from `recovered:false` to reload.
   */
  streamBroke(): void {
    for (const ws of [...this.sockets.open]) this.sockets.kill(ws, CloseCode.ServerShutdown);
    this.sse.endAll();
  }

  /** Resolves once no connection is open (every close handler has run). */
  whenEmpty(): Promise<void> {
    return this.sockets.whenEmpty();
  }

  /**
   * Per-connection structures, for tests. `slots`: connection slots in use in the whole
   * process (connection.ts), whichever gateway holds them.
   */
  stats(): { sockets: number; subjects: number; replays: number; views: number; sse: number; slots: number } {
    return { sockets: this.sockets.open.size, subjects: this.sockets.subjects, replays: this.subscriptions.replaying, views: this.views.size, sse: this.sse.size, slots: slotsInUse() };
  }
}
