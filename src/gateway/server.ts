/**
 * The `gateway` role: uWebSockets.js on HOST:PORT, WebSocket `/v1/live` (CONTRACT section 5,
 * docs/protocol.md).
 *
 * # Lifecycle of a connection
 * upgrade (Origin, token, per-`sub` limit; refused with 401/403/429 before any upgrade) ->
 * open (welcome) -> frames -> close. The close handler is the one cleanup: it runs however
 * the connection ends (client close, TCP reset, heartbeat timeout, 4009, 4001, 4008, 4400,
 * 1009, shutdown), releases every per-connection structure and updates the metrics.
 *
 * # Delivery
 * Each event from stream GRANTS is published once into uWS topics `grants` and
 * `grant:<id>`; uWS fans it out natively. A connection subscribed to `grants` is not also
 * subscribed in uWS to its `grant:<id>` topics, so it receives each event once.
 *
 * # Resume
 * `subscribe` with `since` answers `subscribed` (seq = since), replays the topic's events
 * from the stream up to the feed's head at that moment, then sends what arrived live
 * meanwhile, then joins the uWS topic, all before the next event can be dispatched: no gap
 * and no repeat at the seam.
 *
 * # Backpressure
 * uWS buffers what a client has not read. A sweep (each time an eighth of GATEWAY_MAX_BUFFER
 * was published, and on the tick) closes with 4009 every connection buffering more than
 * GATEWAY_MAX_BUFFER; uWS's own limit (twice that, plus room for a large frame) is only the
 * hard stop, so memory stays bounded even between sweeps.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Config } from '../config/schema.js';
import { CloseCode, LogCode, closeReason } from '../domain/codes.js';
import { ClientFrame, FrameError, SUBPROTOCOL, type Topic } from '../domain/frames.js';
import { canReadMetrics, type Principal } from '../domain/token.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { TokenError, originAllowed, parseBearer, tokenFromSubprotocols, type TokenVerifier } from './auth.js';
import { expiringAt, type Connection } from './connection.js';
import { GrantFeed, toFrame, type FeedEvent } from './feed.js';
import { LISTEN_EXCLUSIVE_PORT, assertNativeUws, uWS, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from './uws.js';

export type GatewayOptions = Pick<
  Config,
  | 'HOST'
  | 'PORT'
  | 'CORS_ORIGINS'
  | 'GRANTS_MAX_AGE'
  | 'GATEWAY_HEARTBEAT'
  | 'GATEWAY_MAX_FRAME'
  | 'GATEWAY_MAX_BUFFER'
  | 'GATEWAY_RATE_LIMIT'
  | 'GATEWAY_MAX_SUBSCRIPTIONS'
  | 'GATEWAY_MAX_CONNECTIONS_PER_SUB'
  | 'GATEWAY_EXPIRING_NOTICE'
  | 'GATEWAY_REPLAY_LIMIT'
>;

type Socket = WebSocket<Connection>;

/** What shares the gateway's app and feed: the REST routes (src/rest). */
export interface GatewayExtension {
  /** Registers routes on the app (before the catch-all 404). */
  mount(app: TemplatedApp, feed: GrantFeed): void;
  /** Called once the feed started, with the stream sequence it starts after. */
  started?(head: number): void;
  /** Every event of the feed, in order, before it is published to clients. */
  onEvent?(event: FeedEvent): void;
  stop?(): Promise<void> | void;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export class Gateway {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private readonly feed: GrantFeed;
  private readonly sockets = new Set<Socket>();
  private readonly perSub = new Map<string, number>();
  /** Topic -> connections replaying it, whose live frames must wait. */
  private readonly replays = new Map<string, Set<Socket>>();
  private ticker: NodeJS.Timeout | undefined;
  private metricsTimer: NodeJS.Timeout | undefined;
  private publishedSinceSweep = 0;
  private stopping = false;
  private emptyWaiters: (() => void)[] = [];
  /**
   * Frames a client may send at once: twice the rate, and never fewer than a reconnecting
   * client needs to restore all its subscriptions (plus a few for ping and auth).
   */
  private readonly burst: number;
  port = 0;

  constructor(
    private readonly options: GatewayOptions,
    private readonly verifier: TokenVerifier,
    nc: NatsConnection,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly extension?: GatewayExtension,
  ) {
    assertNativeUws();
    this.burst = Math.max(2 * options.GATEWAY_RATE_LIMIT, options.GATEWAY_MAX_SUBSCRIPTIONS + 8);
    this.feed = new GrantFeed(nc, options.GRANTS_MAX_AGE, log);
    this.app = uWS.App();
    this.app.ws<Connection>('/v1/live', {
      // uWS drops the TCP connection (no close frame) past its own limit; the gateway checks
      // GATEWAY_MAX_FRAME itself to answer 1009, and keeps uWS's limit as the hard stop.
      maxPayloadLength: Math.min(16 * options.GATEWAY_MAX_FRAME, 16_777_216),
      // The hard stop, past which uWS drops and closes without a close frame; the sweep closes
      // with 4009 long before (it runs each time an eighth of the bound was published).
      maxBackpressure: options.GATEWAY_MAX_BUFFER * 2 + 4_194_304,
      closeOnBackpressureLimit: 1,
      // Heartbeats are the gateway's own (tick); uWS's idle timer is off.
      idleTimeout: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.upgrade(res, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), req.getHeader('origin'), req.getHeader('authorization'), context),
      open: (ws) => this.open(ws),
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      pong: (ws) => {
        ws.getUserData().lastHeard = Date.now();
      },
      close: (ws, code) => this.cleanup(ws, code),
    });
    extension?.mount(this.app, this.feed);
    this.app.any('/*', (res) => {
      res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } })));
    });
  }

  /** Starts the feed, then listens. Resolves with the port. */
  async start(): Promise<number> {
    await this.feed.start((event) => this.dispatch(event));
    this.extension?.started?.(this.feed.head);
    await new Promise<void>((resolve, reject) => {
      // Exclusive: uWS would otherwise share a fixed port with another process (SO_REUSEPORT)
      // and the kernel would spread connections over both; a second gateway must fail instead.
      const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => void;
      listen.call(this.app, this.options.HOST, this.options.PORT, LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${this.options.HOST}:${this.options.PORT} (in use?)`));
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        resolve();
      });
    });
    const tickMs = Math.min(250, Math.max(50, Math.floor(this.options.GATEWAY_HEARTBEAT / 4)));
    this.ticker = setInterval(() => this.tick(), tickMs);
    this.metricsTimer = setInterval(() => this.publishMetrics(), 1_000);
    this.log.info({ code: LogCode.GatewayListening, host: this.options.HOST, port: this.port }, 'gateway listening');
    return this.port;
  }

  /** Stops accepting, closes every client with 1001, stops the feed. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    clearInterval(this.ticker);
    clearInterval(this.metricsTimer);
    for (const ws of [...this.sockets]) this.kill(ws, CloseCode.ServerShutdown);
    await this.extension?.stop?.();
    await this.feed.stop();
  }

  /** Resolves once no connection is open (every close handler has run). */
  whenEmpty(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Per-connection structures, for tests and the metrics frame. */
  stats(): { sockets: number; subjects: number; replays: number } {
    return { sockets: this.sockets.size, subjects: this.perSub.size, replays: this.replays.size };
  }

  // --- upgrade -------------------------------------------------------------------------

  private upgrade(
    res: HttpResponse,
    key: string,
    protocols: string,
    extensions: string,
    origin: string,
    authorization: string,
    context: Parameters<HttpResponse['upgrade']>[4],
  ): void {
    // The request object is gone after the first await: everything needed was copied above.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    if (this.stopping) return this.refuse(res, 503, 'shutting_down', 'server shutting down');
    if (!originAllowed(origin || undefined, this.options.CORS_ORIGINS)) return this.refuse(res, 403, 'origin', 'origin not allowed');
    const offered = tokenFromSubprotocols(protocols || undefined);
    const token = parseBearer(authorization || undefined) ?? offered.token;
    if (!token) return this.refuse(res, 401, 'missing', 'a bearer token is required');
    this.verifier.verify(token).then(
      (principal) => {
        if (aborted) return;
        if ((this.perSub.get(principal.sub) ?? 0) >= this.options.GATEWAY_MAX_CONNECTIONS_PER_SUB) {
          return this.refuse(res, 429, 'too_many_connections', 'too many connections for this subject');
        }
        // Counted now, not at open, so that simultaneous upgrades cannot pass the limit.
        this.perSub.set(principal.sub, (this.perSub.get(principal.sub) ?? 0) + 1);
        const now = Date.now();
        const data: Connection = {
          session: randomUUID(),
          sub: principal.sub,
          role: principal.role,
          expiresAt: principal.expiresAt,
          expiringAt: expiringAt(now, principal.expiresAt, this.options.GATEWAY_EXPIRING_NOTICE),
          expiringSent: false,
          topics: undefined,
          replaying: undefined,
          lastHeard: now,
          lastPing: now,
          allowance: this.burst,
          allowanceAt: now,
          closed: false,
          closing: false,
        };
        res.cork(() => res.upgrade(data, key, offered.offered ? SUBPROTOCOL : '', extensions, context));
      },
      (err: unknown) => {
        if (aborted) return;
        const reason = err instanceof TokenError ? err.reason : 'error';
        this.refuse(res, 401, reason, err instanceof TokenError ? err.message : 'token refused');
      },
    );
  }

  private refuse(res: HttpResponse, status: 401 | 403 | 429 | 503, reason: string, message: string): void {
    this.metrics.wsAuthFailures.inc({ reason });
    const statusText = { 401: '401 Unauthorized', 403: '403 Forbidden', 429: '429 Too Many Requests', 503: '503 Service Unavailable' }[status];
    res.cork(() =>
      res
        .writeStatus(statusText)
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify({ error: { code: reason, message } })),
    );
  }

  // --- connection ----------------------------------------------------------------------

  private open(ws: Socket): void {
    const c = ws.getUserData();
    this.sockets.add(ws);
    this.metrics.wsConnections.inc();
    this.send(ws, JSON.stringify({ type: 'welcome', session: c.session, heartbeatMs: this.options.GATEWAY_HEARTBEAT, expiresAt: c.expiresAt }));
  }

  /** The one cleanup, for every way a connection ends. Idempotent. */
  private cleanup(ws: Socket, code: number): void {
    const c = ws.getUserData();
    if (c.closed) return;
    c.closed = true;
    this.sockets.delete(ws);
    const left = (this.perSub.get(c.sub) ?? 1) - 1;
    if (left > 0) this.perSub.set(c.sub, left);
    else this.perSub.delete(c.sub);
    if (c.replaying) {
      for (const topic of c.replaying.keys()) this.leaveReplay(ws, topic);
      c.replaying = undefined;
    }
    c.topics = undefined;
    this.metrics.wsConnections.dec();
    if (this.sockets.size === 0) for (const resolve of this.emptyWaiters.splice(0)) resolve();
    this.log.debug({ session: c.session, code }, 'connection closed');
  }

  /** Closes with a code of CONTRACT section 5; the close handler does the cleanup. */
  private kill(ws: Socket, code: CloseCode): void {
    const c = ws.getUserData();
    if (c.closed || c.closing) return;
    c.closing = true;
    if (code === CloseCode.TooSlow) {
      this.metrics.wsSlowDisconnects.inc();
      this.log.info({ code: LogCode.GatewaySlowConsumer, session: c.session, sub: c.sub }, 'closed a client that could not keep up');
    }
    ws.end(code, closeReason[code]);
  }

  private send(ws: Socket, frame: string): boolean {
    const c = ws.getUserData();
    if (c.closed || c.closing) return false;
    const status = ws.send(frame);
    if (status === 2 || ws.getBufferedAmount() > this.options.GATEWAY_MAX_BUFFER) {
      this.kill(ws, CloseCode.TooSlow);
      return false;
    }
    this.metrics.wsMessagesSent.inc();
    return true;
  }

  private error(ws: Socket, code: FrameError, message: string, ref?: string | number): void {
    this.send(ws, JSON.stringify({ type: 'error', code, message, ...(ref === undefined ? {} : { ref }) }));
  }

  // --- frames --------------------------------------------------------------------------

  private message(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const c = ws.getUserData();
    if (c.closing) return;
    const now = Date.now();
    c.lastHeard = now;
    const rate = this.options.GATEWAY_RATE_LIMIT;
    c.allowance = Math.min(this.burst, c.allowance + ((now - c.allowanceAt) * rate) / 1_000);
    c.allowanceAt = now;
    if (c.allowance < 1) return this.kill(ws, CloseCode.RateLimited);
    c.allowance -= 1;
    if (message.byteLength > this.options.GATEWAY_MAX_FRAME) return this.kill(ws, CloseCode.FrameTooLarge);
    if (isBinary) return this.kill(ws, CloseCode.MalformedFrame);
    let raw: unknown;
    try {
      raw = JSON.parse(textDecoder.decode(message));
    } catch {
      return this.kill(ws, CloseCode.MalformedFrame);
    }
    const parsed = ClientFrame.safeParse(raw);
    if (!parsed.success) {
      const ref = typeof raw === 'object' && raw !== null && 'ref' in raw && (typeof raw.ref === 'string' || typeof raw.ref === 'number') ? raw.ref : undefined;
      const issue = parsed.error.issues[0];
      return this.error(ws, FrameError.BadFrame, `${issue?.path.join('.') || 'frame'}: ${issue?.message ?? 'invalid'}`.slice(0, 200), ref);
    }
    const frame = parsed.data;
    switch (frame.type) {
      case 'ping':
        return void this.send(ws, frame.ref === undefined ? '{"type":"pong"}' : JSON.stringify({ type: 'pong', ref: frame.ref }));
      case 'subscribe':
        // Events are published under the lower-case id (as Postgres writes uuids): `grant:<ID>` is the same topic.
        return void this.subscribe(ws, frame.topic.toLowerCase() as Topic, frame.since, frame.ref);
      case 'unsubscribe':
        return this.unsubscribe(ws, frame.topic.toLowerCase() as Topic, frame.ref);
      case 'auth':
        return void this.reauth(ws, frame.token, frame.ref);
    }
  }

  private async reauth(ws: Socket, token: string, ref: string | number | undefined): Promise<void> {
    let principal: Principal;
    try {
      principal = await this.verifier.verify(token);
    } catch (err) {
      // The connection keeps its current token until it runs out.
      return this.error(ws, FrameError.AuthFailed, err instanceof TokenError ? `token refused: ${err.reason}` : 'token refused', ref);
    }
    const c = ws.getUserData();
    if (c.closed || c.closing) return;
    if (principal.sub !== c.sub) return this.kill(ws, CloseCode.Forbidden);
    const now = Date.now();
    c.role = principal.role;
    c.expiresAt = principal.expiresAt;
    c.expiringAt = expiringAt(now, principal.expiresAt, this.options.GATEWAY_EXPIRING_NOTICE);
    c.expiringSent = false;
    if (c.topics?.has('metrics') && !canReadMetrics(c.role)) {
      c.topics.delete('metrics');
      ws.unsubscribe('metrics');
      this.send(ws, JSON.stringify({ type: 'unsubscribed', topic: 'metrics' }));
    }
    this.send(ws, JSON.stringify({ type: 'auth_ok', expiresAt: c.expiresAt, ...(ref === undefined ? {} : { ref }) }));
  }

  private async subscribe(ws: Socket, topic: Topic, since: number | undefined, ref: string | number | undefined): Promise<void> {
    const c = ws.getUserData();
    // Created on the first subscribe: an idle connection carries no set.
    const topics = (c.topics ??= new Set());
    const answer = (seq: number, recovered: boolean) =>
      this.send(ws, JSON.stringify({ type: 'subscribed', topic, seq, recovered, ...(ref === undefined ? {} : { ref }) }));
    if (topic === 'metrics') {
      if (!canReadMetrics(c.role)) return this.error(ws, FrameError.Forbidden, 'the metrics topic needs role monitor or admin', ref);
      if (!topics.has(topic) && topics.size >= this.options.GATEWAY_MAX_SUBSCRIPTIONS) return this.tooMany(ws, ref);
      topics.add(topic);
      ws.subscribe('metrics');
      return void answer(this.feed.head, true);
    }
    if (topics.has(topic)) return void answer(this.feed.head, true); // already live: nothing was missed
    if (topics.size >= this.options.GATEWAY_MAX_SUBSCRIPTIONS) return this.tooMany(ws, ref);
    topics.add(topic);
    const head = this.feed.head;
    if (since === undefined || since === head) {
      this.goLive(ws, topic);
      return void answer(head, true);
    }
    let first: number;
    try {
      first = await this.feed.firstSeq();
    } catch (err) {
      return this.replayFailed(ws, err);
    }
    if (c.closed || c.closing || !c.topics?.has(topic)) return;
    // A client coming from another gateway may have seen events this feed has not yet
    // delivered: give the feed a moment to catch up before calling the position unknown.
    if (since > this.feed.head) await this.feed.reached(since, 2_000);
    if (c.closed || c.closing || !c.topics?.has(topic)) return;
    if (since > this.feed.head || since < first - 1 || this.feed.head - since > this.options.GATEWAY_REPLAY_LIMIT) {
      // Outside the resume window (or a position this stream never had): reload from REST.
      this.goLive(ws, topic);
      return void answer(this.feed.head, false);
    }
    // Replay (since, until], with live frames of the topic held back meanwhile.
    const until = this.feed.head;
    (c.replaying ??= new Map()).set(topic, []);
    let set = this.replays.get(topic);
    if (!set) this.replays.set(topic, (set = new Set()));
    set.add(ws);
    answer(since, true);
    let complete: boolean;
    try {
      complete = await this.feed.replay(topic, since, until, (json) => c.topics?.has(topic) === true && this.send(ws, toFrame(json)));
    } catch (err) {
      this.leaveReplay(ws, topic);
      return this.replayFailed(ws, err);
    }
    const held = c.replaying?.get(topic);
    this.leaveReplay(ws, topic);
    if (!complete || c.closed || c.closing || !c.topics?.has(topic) || !held) return;
    for (const frame of held) if (!this.send(ws, frame)) return;
    this.goLive(ws, topic);
  }

  private tooMany(ws: Socket, ref: string | number | undefined): void {
    this.error(ws, FrameError.TooManySubscriptions, `at most ${this.options.GATEWAY_MAX_SUBSCRIPTIONS} subscriptions per connection`, ref);
  }

  private replayFailed(ws: Socket, err: unknown): void {
    this.log.warn({ code: LogCode.GatewayReplayFailed, err }, 'could not replay for a resuming client; asking it to reconnect');
    // 1001: the client reconnects and resumes again from the same position.
    if (!ws.getUserData().closed) this.kill(ws, CloseCode.ServerShutdown);
  }

  private leaveReplay(ws: Socket, topic: string): void {
    ws.getUserData().replaying?.delete(topic);
    const set = this.replays.get(topic);
    set?.delete(ws);
    if (set?.size === 0) this.replays.delete(topic);
  }

  /** Joins the uWS topic, keeping one delivery path per event (see the module comment). */
  private goLive(ws: Socket, topic: string): void {
    const c = ws.getUserData();
    if (c.closed || c.closing) return;
    if (topic === 'grants') {
      ws.subscribe('grants');
      for (const t of c.topics ?? []) if (t.startsWith('grant:')) ws.unsubscribe(t);
    } else if (!ws.isSubscribed('grants')) {
      ws.subscribe(topic);
    }
  }

  private unsubscribe(ws: Socket, topic: Topic, ref: string | number | undefined): void {
    const c = ws.getUserData();
    if (!c.topics?.delete(topic)) return this.error(ws, FrameError.NotSubscribed, `not subscribed to ${topic}`, ref);
    this.leaveReplay(ws, topic);
    ws.unsubscribe(topic);
    if (topic === 'grants') for (const t of c.topics) if (t.startsWith('grant:') && !c.replaying?.has(t)) ws.subscribe(t);
    this.send(ws, JSON.stringify({ type: 'unsubscribed', topic, ...(ref === undefined ? {} : { ref }) }));
  }

  // --- delivery ------------------------------------------------------------------------

  private dispatch(event: FeedEvent): void {
    this.extension?.onEvent?.(event);
    const own = `grant:${event.id}`;
    for (const topic of ['grants', own]) {
      const waiting = this.replays.get(topic);
      if (waiting) {
        for (const ws of waiting) {
          const held = ws.getUserData().replaying?.get(topic);
          if (!held) continue;
          held.push(event.frame);
          if (held.length > this.options.GATEWAY_REPLAY_LIMIT) this.kill(ws, CloseCode.TooSlow);
        }
      }
    }
    const deliveries = this.app.numSubscribers('grants') + this.app.numSubscribers(own);
    if (deliveries === 0) return;
    this.app.publish('grants', event.frame);
    this.app.publish(own, event.frame);
    this.metrics.wsMessagesSent.inc(deliveries);
    // No client can have gained more than what was published since the last sweep: sweep
    // for slow clients whenever that reaches an eighth of the bound (a slow client is closed
    // at most that far past the bound).
    this.publishedSinceSweep += event.frame.length;
    if (this.publishedSinceSweep > this.options.GATEWAY_MAX_BUFFER / 8) this.sweep();
  }

  private sweep(): void {
    this.publishedSinceSweep = 0;
    const bound = this.options.GATEWAY_MAX_BUFFER;
    for (const ws of this.sockets) if (ws.getBufferedAmount() > bound) this.kill(ws, CloseCode.TooSlow);
  }

  /** Heartbeats, token expiry, and the slow-client sweep. */
  private tick(): void {
    const now = Date.now();
    const heartbeat = this.options.GATEWAY_HEARTBEAT;
    const bound = this.options.GATEWAY_MAX_BUFFER;
    for (const ws of this.sockets) {
      const c = ws.getUserData();
      if (c.closing) continue;
      if (now >= c.expiresAt) {
        // `expiring` always comes first, even for a token too short-lived for the tick.
        if (!c.expiringSent) this.send(ws, JSON.stringify({ type: 'expiring', expiresAt: c.expiresAt }));
        this.kill(ws, CloseCode.TokenInvalid);
        continue;
      }
      if (now - c.lastHeard > 2 * heartbeat) {
        // Silent for two heartbeats: the peer is gone; no close frame can reach it.
        c.closing = true;
        ws.close();
        continue;
      }
      if (ws.getBufferedAmount() > bound) {
        this.kill(ws, CloseCode.TooSlow);
        continue;
      }
      if (!c.expiringSent && now >= c.expiringAt) {
        c.expiringSent = true;
        this.send(ws, JSON.stringify({ type: 'expiring', expiresAt: c.expiresAt }));
      }
      if (now - c.lastPing >= heartbeat) {
        c.lastPing = now;
        ws.ping();
      }
    }
    this.publishedSinceSweep = 0;
  }

  private publishMetrics(): void {
    if (this.app.numSubscribers('metrics') === 0) return;
    this.app.publish(
      'metrics',
      JSON.stringify({ type: 'metrics', at: new Date().toISOString(), connections: this.sockets.size, subjects: this.perSub.size, head: this.feed.head }),
    );
  }
}
