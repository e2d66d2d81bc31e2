/**
 * `LiveClient`: one logical connection to the gateway's `/v1/live` that survives network
 * drops, gateway restarts and token expiry (docs/protocol.md, "The SDK").
 *
 * # Lifecycle
 * `connect()` starts it; every way a socket ends (server close, network error, heartbeat
 * silence, handshake timeout) leads to `disconnected()`, which either schedules the next
 * attempt (backoff with full jitter) or stops for good on the close codes that reconnecting
 * cannot fix (4003, 4400, 1009; 4001 without `getToken`). `close()` is idempotent and final:
 * it silences the socket, cancels every timer and aborts reload requests, so the client
 * holds nothing afterwards (`pendingTimers` is 0).
 *
 * # Concurrency
 * Socket callbacks and timers run on one thread, but `getToken` and reloads are awaited: a
 * connection attempt is identified by `generation`, and code resuming after an `await`
 * checks that its generation is still current (and the client not closed) before touching
 * anything. A socket the client gave up on has its handlers removed at once, so a late event
 * from it cannot reach the current connection.
 *
 * # Ordering
 * Grant frames pass the topic table (topics.ts) in arrival order; while a reload runs they
 * are held and handed out after it, in order, so a consumer never sees a live change before
 * the snapshot it applies to.
 */
import { SUBPROTOCOL, BEARER_PREFIX, ServerFrame, type ClientFrame, type Topic } from '../domain/frames.js';
import { CloseCode, FrameError } from '../domain/codes.js';
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
import { Emitter, rethrowLater } from './emitter.js';
import { ClientErrorCode, LiveError, terminalCloseError } from './errors.js';
import type { ConnectionState, GrantFrame, LiveClientEvents, WelcomeFrameData } from './events.js';
import { fetchSnapshot } from './reload.js';
import { abandon, CLOSED, messageText, OPEN, type SocketConstructor, type SocketLike } from './socket.js';
import { Timers } from './timers.js';
import { tokenExpiresAt } from './token.js';
import { parseTopic, TopicTable } from './topics.js';

export interface LiveClientOptions {
  /** `ws://host:port/v1/live` or `wss://...`. */
  url: string;
  /** A token to start with; `getToken` is asked when it is missing, expired or refused. */
  token?: string;
  /** Returns a fresh token; called before a token expires, after close 4001 and after a refused upgrade. */
  getToken?: () => Promise<string> | string;
  /** The WebSocket class; default `globalThis.WebSocket` (Node 20 has none: pass the `ws` package's). */
  WebSocket?: SocketConstructor;
  /** Backoff between attempts; default `{ baseMs: 500, maxMs: 20000 }`. */
  reconnect?: Partial<ReconnectOptions>;
  /** Called after `recovered: false`; default: a REST snapshot from `restBaseUrl`, delivered as a 'reload' event. */
  onReload?: (topic: Topic) => Promise<void> | void;
  /** Base URL of the REST API (`https://host`), for the default reload. */
  restBaseUrl?: string;
  /** `fetch` for the default reload; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Give up on a connection attempt that has not received `welcome` after this long; default 10000 ms. */
  connectTimeoutMs?: number;
}

/** Ask `getToken` for a new token before connecting when the current one has less than this left. */
const MIN_TOKEN_LIFETIME_MS = 5_000;
/** Refresh in-band at this fraction of the remaining lifetime (unless `expiring` comes first). */
const REFRESH_AT = 0.8;
/**
 * A connection must have lasted this long for the next drop to start the backoff afresh;
 * one the server ends soon after `welcome` (4008, 4009, a crash loop) keeps backing off.
 */
const STABLE_AFTER_MS = 5_000;
/** Below this remaining lifetime, leave the refresh to the server's `expiring` (see scheduleRefresh). */
const MIN_REFRESH_LEAD_MS = 1_000;

type Pending = { kind: 'subscribe' | 'unsubscribe'; topic: Topic } | { kind: 'auth' };

export class LiveClient extends Emitter<LiveClientEvents> {
  private readonly url: string;
  private readonly getToken: (() => Promise<string> | string) | undefined;
  private readonly Socket: SocketConstructor;
  private readonly backoff: ReconnectOptions;
  private readonly onReload: ((topic: Topic) => Promise<void> | void) | undefined;
  private readonly restBaseUrl: string | undefined;
  private readonly fetchImpl: typeof fetch | undefined;
  private readonly connectTimeoutMs: number;

  private readonly topicTable = new TopicTable();
  private readonly timers = new Timers();
  private readonly reloads = new Set<AbortController>();

  private currentState: ConnectionState = 'closed';
  private started = false;
  private closing: Promise<void> | undefined;
  private socket: SocketLike | undefined;
  /** Bumped for each connection attempt and on close; stale async work compares it. */
  private generation = 0;
  private welcomed = false;
  /** When the current connection received `welcome`. */
  private openedAt = 0;
  /** Reconnect attempts since the last connection that lasted (see STABLE_AFTER_MS). */
  private attempt = 0;

  private token: string | undefined;
  /** When the token in use expires (ms), from `welcome`/`auth_ok` or the token itself. */
  private tokenExpiry: number | undefined;
  /** The server refused the token (close 4001 or HTTP 401): get another before reconnecting. */
  private tokenRefused = false;
  private refreshing = false;

  private sessionId: string | undefined;
  private heartbeatMs = 0;
  private lastHeard = 0;
  private nextRef = 1;
  private readonly pending = new Map<number, Pending>();

  private reloadsRunning = 0;
  private held: GrantFrame[] = [];

  constructor(options: LiveClientOptions) {
    super();
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (!Socket) throw new TypeError('LiveClient: no WebSocket class; pass options.WebSocket (in Node 20, the `ws` package\'s WebSocket)');
    this.url = options.url;
    this.token = options.token;
    this.tokenExpiry = options.token === undefined ? undefined : tokenExpiresAt(options.token);
    this.getToken = options.getToken;
    this.Socket = Socket;
    this.backoff = { baseMs: options.reconnect?.baseMs ?? DEFAULT_RECONNECT.baseMs, maxMs: options.reconnect?.maxMs ?? DEFAULT_RECONNECT.maxMs };
    this.onReload = options.onReload;
    this.restBaseUrl = options.restBaseUrl;
    this.fetchImpl = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    if (this.token === undefined && this.getToken === undefined) throw new TypeError('LiveClient: give token or getToken');
  }

  // ---- public surface ----------------------------------------------------------------------

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The session id of the current connection (from `welcome`). */
  get session(): string | undefined {
    return this.sessionId;
  }

  /** The topics the client holds (and restores on every reconnect). */
  get topics(): Topic[] {
    return this.topicTable.list();
  }

  /** Timers the client holds now; 0 after `close()`. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** The last seq the consumer was given on `topic`: what a resume would send as `since`. */
  lastSeq(topic: string): number | undefined {
    return this.topicTable.last(parseTopic(topic));
  }

  /**
   * Starts connecting (idempotent). Resolves at the first `open`; rejects if the client
   * stops before that. Awaiting it is optional: the rejection is never unhandled.
   */
  connect(): Promise<void> {
    if (this.closing) return handled(Promise.reject(new LiveError(ClientErrorCode.Closed, 'the client was closed')));
    const opened = this.whenOpen();
    if (!this.started || this.currentState === 'closed') {
      this.started = true;
      this.attempt = 0;
      this.setState('connecting');
      void this.openSocket();
    }
    return opened;
  }

  /**
   * Subscribes to `grants`, `grant:<uuid>` or `metrics`, now if connected and on every
   * reconnect. `since`: the caller already holds everything up to this seq (the `seq` of a
   * REST page, or one saved from an earlier session); omitted, the topic starts live.
   * A topic already held is left as it is.
   */
  subscribe(topic: string, options: { since?: number } = {}): void {
    const t = parseTopic(topic);
    if (!this.topicTable.add(t, options.since)) return;
    if (this.welcomed) this.sendSubscribe(t);
  }

  unsubscribe(topic: string): void {
    const t = parseTopic(topic);
    if (!this.topicTable.remove(t)) return;
    if (this.welcomed) this.request({ kind: 'unsubscribe', topic: t }, (ref) => ({ type: 'unsubscribe', topic: t, ref }));
  }

  /**
   * Ends the client for good (idempotent): closes the socket with 1000, cancels every timer
   * and reload. Resolves when the socket has closed.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.generation++;
    this.timers.clear();
    for (const controller of this.reloads) controller.abort();
    this.reloads.clear();
    this.held = [];
    this.pending.clear();
    const socket = this.socket;
    this.socket = undefined;
    this.welcomed = false;
    this.closing =
      socket && socket.readyState !== CLOSED
        ? new Promise<void>((resolve) => {
            socket.onopen = null;
            socket.onmessage = null;
            socket.onerror = () => {};
            socket.onclose = () => resolve();
            try {
              socket.close(1000, 'client closed');
            } catch {
              resolve();
            }
          })
        : Promise.resolve();
    this.setState('closed');
    return this.closing;
  }

  /**
   * TEST HOOK, not for applications: drops the socket as a network failure would (no close
   * handshake), so tests can exercise resume without controlling the network. The client
   * reconnects as after any drop.
   */
  dropConnection(): void {
    if (!this.socket) return;
    this.abandonSocket();
    this.disconnected(1006, 'dropped');
  }

  // ---- connection ---------------------------------------------------------------------------

  private async openSocket(): Promise<void> {
    const generation = ++this.generation;
    let token: string;
    try {
      token = await this.usableToken();
    } catch (err) {
      if (generation !== this.generation || this.closing) return;
      const error = err instanceof LiveError ? err : new LiveError(ClientErrorCode.TokenUnavailable, 'getToken failed', { cause: err });
      if (error.code === ClientErrorCode.TokenUnavailable) {
        this.emit('error', error);
        this.scheduleReconnect();
      } else {
        this.stop(error);
      }
      return;
    }
    if (generation !== this.generation || this.closing) return;

    let socket: SocketLike;
    try {
      socket = new this.Socket(this.url, [SUBPROTOCOL, `${BEARER_PREFIX}${token}`]);
    } catch (err) {
      // A malformed URL or a token with characters a subprotocol cannot carry.
      this.stop(new LiveError(ClientErrorCode.ConnectFailed, `cannot open ${this.url}`, { cause: err }));
      return;
    }
    this.socket = socket;
    this.welcomed = false;
    this.pending.clear();
    this.refreshing = false;
    this.timers.set('connect', this.connectTimeoutMs, () => {
      if (this.socket !== socket || this.welcomed) return;
      this.abandonSocket();
      this.disconnected(1006, 'no welcome in time');
    });
    socket.onopen = () => {
      if (this.socket === socket) this.lastHeard = Date.now();
    };
    socket.onmessage = (event) => {
      if (this.socket === socket) this.received(event.data);
    };
    socket.onerror = (event) => {
      // Only `ws` says why (browsers hide it): a refused upgrade names the HTTP status.
      const message = (event as { message?: unknown } | null)?.message;
      if (this.socket === socket && typeof message === 'string' && /\b401\b/.test(message)) this.tokenRefused = true;
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.disconnected(event.code, event.reason);
    };
  }

  /** The token to connect with, asking `getToken` when there is none or it is refused or nearly expired. */
  private async usableToken(): Promise<string> {
    const nearlyExpired = this.tokenExpiry !== undefined && this.tokenExpiry - Date.now() < MIN_TOKEN_LIFETIME_MS;
    if (this.getToken && (this.token === undefined || this.tokenRefused || nearlyExpired)) {
      const token = await this.getToken();
      if (typeof token !== 'string' || token.length === 0) throw new LiveError(ClientErrorCode.TokenUnavailable, 'getToken returned no token');
      this.setToken(token);
      this.tokenRefused = false;
      return token;
    }
    if (this.token === undefined) throw new LiveError(ClientErrorCode.TokenUnavailable, 'no token');
    if (this.tokenExpiry !== undefined && this.tokenExpiry <= Date.now()) throw new LiveError(ClientErrorCode.TokenExpired, 'the token has expired and there is no getToken');
    if (this.tokenRefused) throw new LiveError(ClientErrorCode.TokenRejected, 'the server refused the token and there is no getToken');
    return this.token;
  }

  private setToken(token: string): void {
    this.token = token;
    this.tokenExpiry = tokenExpiresAt(token);
  }

  /** Every end of a socket comes here once: reconnect, or stop for good. */
  private disconnected(code: number, reason: string): void {
    if (this.welcomed && Date.now() - this.openedAt >= STABLE_AFTER_MS) this.attempt = 0;
    this.welcomed = false;
    this.pending.clear();
    this.refreshing = false;
    for (const name of ['connect', 'ping', 'watchdog', 'refresh']) this.timers.cancel(name);
    if (this.closing) return;
    const terminal = terminalCloseError(code, reason);
    if (terminal) return this.stop(terminal);
    if (code === CloseCode.TokenInvalid) {
      if (!this.getToken) return this.stop(new LiveError(ClientErrorCode.TokenExpired, 'the token expired or was refused (4001) and there is no getToken', { closeCode: code }));
      this.tokenRefused = true;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    // 'connecting' until the first welcome, 'reconnecting' after a connection was lost.
    this.setState(this.sessionId === undefined ? 'connecting' : 'reconnecting');
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt++;
    this.timers.set('reconnect', delay, () => void this.openSocket());
  }

  /** Stops for good (a terminal close code, or no way to get a token), keeping topics for a later `connect()`. */
  private stop(error: LiveError): void {
    this.generation++;
    this.timers.clear();
    this.welcomed = false;
    if (this.socket) this.abandonSocket();
    this.emit('error', error);
    this.setState('closed');
  }

  /** Silences and drops the socket; the caller decides what follows (disconnected or stop). */
  private abandonSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) abandon(socket);
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private whenOpen(): Promise<void> {
    if (this.currentState === 'open') return Promise.resolve();
    return handled(
      new Promise<void>((resolve, reject) => {
        let lastError: LiveError | undefined;
        const offError = this.on('error', (err) => (lastError = err));
        const offState = this.on('state', (state) => {
          if (state !== 'open' && state !== 'closed') return;
          offState();
          offError();
          if (state === 'open') resolve();
          else reject(lastError ?? new LiveError(ClientErrorCode.Closed, 'the client was closed'));
        });
      }),
    );
  }

  // ---- frames -------------------------------------------------------------------------------

  private received(data: unknown): void {
    this.lastHeard = Date.now();
    const text = messageText(data);
    if (text === undefined) return this.badFrame('a binary frame that is not UTF-8 text');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return this.badFrame('a frame that is not JSON', err);
    }
    const parsed = ServerFrame.safeParse(json);
    if (!parsed.success) return this.badFrame(`a frame that fails the ServerFrame schema: ${text.slice(0, 200)}`, parsed.error);
    const frame = parsed.data;
    switch (frame.type) {
      case 'welcome':
        return this.welcome(frame);
      case 'grant':
        return this.grant(frame);
      case 'subscribed': {
        this.pendingAnswer(frame.ref);
        const topic = parseTopic(frame.topic);
        const reload = this.topicTable.subscribed(topic, frame.seq, frame.recovered);
        this.emit('subscribed', frame);
        if (reload) this.reload(topic);
        return;
      }
      case 'unsubscribed':
        this.pendingAnswer(frame.ref);
        // Without a ref the server dropped the topic by itself (an `auth` that lowered the
        // role below what `metrics` needs): do not restore it on the next connection.
        if (frame.ref === undefined) this.topicTable.remove(parseTopic(frame.topic));
        return this.emit('unsubscribed', frame);
      case 'pong':
        return;
      case 'auth_ok':
        this.pendingAnswer(frame.ref);
        this.refreshing = false;
        this.tokenExpiry = frame.expiresAt;
        this.scheduleRefresh(frame.expiresAt);
        return this.emit('authenticated', { expiresAt: frame.expiresAt });
      case 'expiring':
        this.emit('expiring', frame);
        return void this.refreshToken();
      case 'metrics':
        return this.emit('metrics', frame);
      case 'error':
        return this.serverError(frame.code, frame.message, frame.ref);
    }
  }

  private badFrame(message: string, cause?: unknown): void {
    this.emit('error', new LiveError(ClientErrorCode.BadServerFrame, `the server sent ${message}`, { cause }));
  }

  private welcome(frame: WelcomeFrameData): void {
    if (this.welcomed) return;
    this.welcomed = true;
    this.openedAt = Date.now();
    this.sessionId = frame.session;
    this.heartbeatMs = frame.heartbeatMs;
    this.tokenExpiry = frame.expiresAt;
    this.timers.cancel('connect');
    this.startHeartbeat();
    this.scheduleRefresh(frame.expiresAt);
    this.setState('open');
    this.emit('welcome', frame);
    this.emit('authenticated', { expiresAt: frame.expiresAt });
    for (const topic of this.topicTable.list()) this.sendSubscribe(topic);
  }

  private grant(frame: GrantFrame): void {
    if (!this.topicTable.accept(frame.id, frame.seq)) return;
    if (this.reloadsRunning > 0) this.held.push(frame);
    else this.emit('grant', frame);
  }

  private serverError(code: string, message: string, ref: string | number | undefined): void {
    const request = typeof ref === 'number' ? this.pending.get(ref) : undefined;
    if (typeof ref === 'number') this.pending.delete(ref);
    let topic: Topic | undefined;
    if (request?.kind === 'subscribe') {
      topic = request.topic;
      // Retrying on every reconnect would be refused the same way: forget the topic.
      if (code === FrameError.Forbidden || code === FrameError.BadFrame || code === FrameError.TooManySubscriptions) this.topicTable.remove(topic);
    }
    if (request?.kind === 'auth') this.refreshing = false;
    this.emit('error', new LiveError(code, message, { ref, topic }));
  }

  // ---- requests -----------------------------------------------------------------------------

  private sendSubscribe(topic: Topic): void {
    const since = this.topicTable.since(topic);
    this.request({ kind: 'subscribe', topic }, (ref) => (since === undefined ? { type: 'subscribe', topic, ref } : { type: 'subscribe', topic, since, ref }));
  }

  private request(what: Pending, frame: (ref: number) => ClientFrame): void {
    const ref = this.nextRef++;
    this.pending.set(ref, what);
    this.send(frame(ref));
  }

  private pendingAnswer(ref: string | number | undefined): void {
    if (typeof ref === 'number') this.pending.delete(ref);
  }

  private send(frame: ClientFrame): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return;
    try {
      socket.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close event follows and decides what happens next.
    }
  }

  // ---- heartbeat ----------------------------------------------------------------------------

  /**
   * Sends `ping` every heartbeatMs (browsers cannot send protocol pings) and drops the
   * socket when nothing at all arrived for 2 x heartbeatMs: the server then counts as dead
   * even though TCP may not notice for minutes.
   */
  private startHeartbeat(): void {
    const interval = this.heartbeatMs;
    const tick = () => {
      this.send({ type: 'ping' });
      this.timers.set('ping', interval, tick);
    };
    this.timers.set('ping', interval, tick);
    this.armWatchdog();
  }

  private armWatchdog(): void {
    const silence = 2 * this.heartbeatMs;
    // Re-armed lazily from lastHeard, so a busy connection costs no timer work per frame.
    this.timers.set('watchdog', this.lastHeard + silence - Date.now(), () => {
      if (!this.welcomed) return;
      if (Date.now() - this.lastHeard >= silence) {
        this.abandonSocket();
        this.disconnected(1006, 'heartbeat timeout');
      } else {
        this.armWatchdog();
      }
    });
  }

  // ---- token refresh ------------------------------------------------------------------------

  private scheduleRefresh(expiresAt: number): void {
    this.timers.cancel('refresh');
    if (!this.getToken) return;
    const remaining = expiresAt - Date.now();
    // A token that already looks (nearly) expired by our clock, just after the server took
    // it, means our clock is ahead: a timer would refresh in a loop. The server's
    // `expiring`, sent by its own clock, triggers the refresh instead.
    if (remaining < MIN_REFRESH_LEAD_MS) return;
    this.timers.set('refresh', remaining * REFRESH_AT, () => void this.refreshToken());
  }

  /** Gets a fresh token and sends it in-band (`auth`); the connection stays as it is. */
  private async refreshToken(): Promise<void> {
    if (!this.getToken || this.refreshing || !this.welcomed) return;
    this.refreshing = true;
    const generation = this.generation;
    let token: string;
    try {
      token = await this.getToken();
      if (typeof token !== 'string' || token.length === 0) throw new Error('getToken returned no token');
    } catch (err) {
      if (generation !== this.generation) return;
      this.refreshing = false;
      this.emit('error', new LiveError(ClientErrorCode.TokenUnavailable, 'getToken failed; the connection keeps its token until it expires', { cause: err }));
      return;
    }
    if (generation !== this.generation || !this.welcomed) return;
    this.setToken(token);
    this.request({ kind: 'auth' }, (ref) => ({ type: 'auth', token, ref }));
  }

  // ---- reload -------------------------------------------------------------------------------

  /** After `recovered: false`: the app's `onReload`, or a REST snapshot, with live frames held meanwhile. */
  private reload(topic: Topic): void {
    const controller = new AbortController();
    this.reloads.add(controller);
    this.reloadsRunning++;
    const run = async (): Promise<void> => {
      if (this.onReload) {
        try {
          await this.onReload(topic);
        } catch (err) {
          if (!controller.signal.aborted) this.emit('error', new LiveError(ClientErrorCode.ReloadFailed, `onReload(${topic}) failed`, { cause: err, topic }));
        }
        return;
      }
      if (!this.restBaseUrl || !this.fetchImpl || this.token === undefined) {
        this.emit('reload', { topic, snapshot: null, cause: new Error('no restBaseUrl: the app reloads itself') });
        return;
      }
      try {
        const snapshot = await fetchSnapshot(this.restBaseUrl, topic, this.token, this.fetchImpl, controller.signal);
        if (!controller.signal.aborted) this.emit('reload', { topic, snapshot });
      } catch (err) {
        if (!controller.signal.aborted) this.emit('reload', { topic, snapshot: null, cause: err });
      }
    };
    void run().finally(() => {
      if (controller.signal.aborted) return;
      this.reloads.delete(controller);
      this.reloadsRunning--;
      if (this.reloadsRunning > 0) return;
      const held = this.held;
      this.held = [];
      for (const frame of held) this.emit('grant', frame);
    });
  }

  protected override listenerError(event: keyof LiveClientEvents, err: unknown): void {
    // An 'error' listener that throws has nowhere left to report to: surface it as an EventTarget would.
    if (event === 'error') return rethrowLater(err);
    this.emit('error', new LiveError(ClientErrorCode.ListenerThrew, `a '${String(event)}' listener threw`, { cause: err }));
  }
}

/** Marks a promise as handled (a caller that never awaits it causes no unhandled rejection) and returns it. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
