/**
 * One socket at a time to the gateway's `/v1/live`, and the backoff between them.
 *
 * # Lifecycle
 * `start()` opens the first socket; every way a socket ends (server close, network error,
 * heartbeat silence, handshake timeout) leads to `disconnected()`, which either schedules the
 * next attempt (backoff with full jitter) or stops for good on the close codes that
 * reconnecting cannot fix (4003, 4400, 1009; 4001 without `getToken`). `close()` is final.
 *
 * # Concurrency
 * Socket callbacks and timers run on one thread, but `getToken` and reloads are awaited: a
 * connection attempt is identified by `generation`, and code resuming after an `await`
 * checks that its generation is still current (and the client not closed) before touching
 * anything. A socket the client gave up on has its handlers removed at once, so a late event
 * from it cannot reach the current connection.
 */
import { SUBPROTOCOL, BEARER_PREFIX, type ClientFrame } from '../domain/frames.js';
import { CloseCode } from '../domain/codes.js';
import { backoffDelay, type ReconnectOptions } from './backoff.js';
import { ClientErrorCode, LiveError, terminalCloseError } from './errors.js';
import type { ConnectionState } from './events.js';
import { abandon, CLOSED, OPEN, type SocketConstructor, type SocketLike } from './socket.js';
import type { Timers } from './timers.js';

/**
 * A connection must have lasted this long for the next drop to start the backoff afresh;
 * one the server ends soon after `welcome` (4008, 4009, a crash loop) keeps backing off.
 */
const STABLE_AFTER_MS = 5_000;

/** Where to connect and how patiently (from `LiveClientOptions`, defaults applied). */
export interface ConnectionSettings {
  url: string;
  /** The WebSocket class; undefined when only SSE is possible. */
  Socket: SocketConstructor | undefined;
  /** The same protocol over Server-Sent Events (sse-socket.ts); undefined without `fetch`. */
  Sse: SocketConstructor | undefined;
  /** 'auto': WebSocket, falling back to SSE when WebSocket cannot connect. */
  transport: Transport;
  backoff: ReconnectOptions;
  connectTimeoutMs: number;
}

export type Transport = 'auto' | 'websocket' | 'sse';

/** WebSocket attempts that end before `welcome`, in a row, after which 'auto' tries SSE. */
const WEBSOCKET_FAILURES_BEFORE_SSE = 2;
/** A 503 whose Retry-After cannot be read (WebSocket hides the headers): wait at least this. */
const BUSY_RETRY_FLOOR_MS = 1_000;
/** After falling back, WebSocket is tried again no sooner than this. */
const WEBSOCKET_RETRY_AFTER_MS = 300_000;

/** What the connection asks of, and reports to, the rest of the client. */
export interface ConnectionHooks {
  /** The token to open a socket with; rejects (with a LiveError when it can say why) when there is none. */
  token(): Promise<string>;
  /** The server refused the token: HTTP 401 on the upgrade, or close 4001. */
  tokenRefused(): void;
  /** Whether a refused token can be replaced (`getToken` was given). */
  canRenewToken(): boolean;
  /** The current socket opened. */
  opened(): void;
  /** A message on the current socket. */
  message(data: unknown): void;
  /** A socket starts or ended: drop what belonged to the one before (requests in flight, a refresh, heartbeat timers). */
  reset(): void;
  state(state: ConnectionState): void;
  error(error: LiveError): void;
}

/** The socket of the moment, the reconnect schedule (timers 'connect' and 'reconnect') and the session. */
export class Connection {
  private socket: SocketLike | undefined;
  private currentGeneration = 0;
  private isWelcomed = false;
  /** When the current connection received `welcome`. */
  private openedAt = 0;
  /** Reconnect attempts since the last connection that lasted (see STABLE_AFTER_MS). */
  private attempt = 0;
  private sessionId: string | undefined;
  private closingPromise: Promise<void> | undefined;
  /** What the current (or last) socket is. */
  private kind: 'websocket' | 'sse' = 'websocket';
  private websocketFailures = 0;
  private fellBackAt = 0;
  /** A welcome came over SSE once: WebSocket is blocked on this network, not the server away. */
  private sseWorked = false;
  /** The server's `Retry-After` (or, when it cannot be read, a floor) for the next attempt. */
  private retryAfterMs: number | undefined;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly timers: Timers,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** Bumped for each connection attempt and on close; stale async work compares it. */
  get generation(): number {
    return this.currentGeneration;
  }

  /** The current socket has received `welcome`. */
  get welcomed(): boolean {
    return this.isWelcomed;
  }

  /** The transport of the current (or last) connection. */
  get transport(): 'websocket' | 'sse' {
    return this.kind;
  }

  /** The session id of the latest `welcome`. */
  get session(): string | undefined {
    return this.sessionId;
  }

  /** Set once `close()` was called: resolves when the socket has closed. */
  get closing(): Promise<void> | undefined {
    return this.closingPromise;
  }

  /** Opens the first socket, with the backoff started afresh. */
  start(): void {
    this.attempt = 0;
    this.hooks.state('connecting');
    void this.open();
  }

  /** Records the server's `welcome` on the current socket; false when it already had one. */
  welcome(session: string): boolean {
    if (this.isWelcomed) return false;
    this.isWelcomed = true;
    if (this.kind === 'sse') this.sseWorked = true;
    this.openedAt = Date.now();
    this.sessionId = session;
    this.timers.cancel('connect');
    return true;
  }

  /** Sends a frame on the current socket; dropped when there is no open socket. */
  send(frame: ClientFrame): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return;
    try {
      socket.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close event follows and decides what happens next.
    }
  }

  /** Drops the socket as a network failure would (no close handshake); what follows is as after any drop. */
  drop(reason: string): void {
    if (!this.socket) return;
    this.abandonSocket();
    this.disconnected(1006, reason);
  }

  /** Ends for good: cancels every timer and closes the socket with 1000. Resolves when the socket has closed. */
  close(): Promise<void> {
    if (this.closingPromise) return this.closingPromise;
    this.currentGeneration++;
    this.timers.clear();
    const socket = this.socket;
    this.socket = undefined;
    this.isWelcomed = false;
    this.closingPromise =
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
    return this.closingPromise;
  }

  private async open(): Promise<void> {
    const generation = ++this.currentGeneration;
    let token: string;
    try {
      token = await this.hooks.token();
    } catch (err) {
      if (generation !== this.currentGeneration || this.closingPromise) return;
      const error = err instanceof LiveError ? err : new LiveError(ClientErrorCode.TokenUnavailable, 'getToken failed', { cause: err });
      if (error.code === ClientErrorCode.TokenUnavailable) {
        this.hooks.error(error);
        this.scheduleReconnect();
      } else {
        this.stop(error);
      }
      return;
    }
    if (generation !== this.currentGeneration || this.closingPromise) return;

    const { url, connectTimeoutMs } = this.settings;
    let socket: SocketLike;
    try {
      socket = this.newSocket(url, token);
    } catch (err) {
      // A malformed URL or a token with characters a subprotocol cannot carry.
      this.stop(new LiveError(ClientErrorCode.ConnectFailed, `cannot open ${url}`, { cause: err }));
      return;
    }
    this.socket = socket;
    this.isWelcomed = false;
    this.hooks.reset();
    this.timers.set('connect', connectTimeoutMs, () => {
      if (this.socket !== socket || this.isWelcomed) return;
      this.drop('no welcome in time');
    });
    socket.onopen = () => {
      if (this.socket === socket) this.hooks.opened();
    };
    socket.onmessage = (event) => {
      if (this.socket === socket) this.hooks.message(event.data);
    };
    socket.onerror = (event) => {
      if (this.socket !== socket) return;
      // Only `ws` and the SSE transport say why (browsers hide it): a refused upgrade names
      // the HTTP status; the SSE transport also reads Retry-After.
      const { message, retryAfterMs } = (event ?? {}) as { message?: unknown; retryAfterMs?: unknown };
      if (typeof message === 'string' && /\b401\b/.test(message)) this.hooks.tokenRefused();
      if (typeof retryAfterMs === 'number') this.retryAfterMs = retryAfterMs;
      else if (typeof message === 'string' && /\b503\b/.test(message)) this.retryAfterMs = BUSY_RETRY_FLOOR_MS;
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.disconnected(event.code, event.reason);
    };
  }

  /** A socket of the transport to use now: WebSocket, or SSE when 'auto' saw WebSocket fail (or it cannot be built). */
  private newSocket(url: string, token: string): SocketLike {
    const { Socket, Sse, transport } = this.settings;
    const protocols = [SUBPROTOCOL, `${BEARER_PREFIX}${token}`];
    // After falling back, one WebSocket attempt now and then, in case the network changed.
    const retryWebsocket = this.kind === 'sse' && Date.now() - this.fellBackAt >= WEBSOCKET_RETRY_AFTER_MS;
    const sseNow = transport === 'sse' || (transport === 'auto' && this.websocketFailures >= WEBSOCKET_FAILURES_BEFORE_SSE && !retryWebsocket);
    if (Socket && !sseNow) {
      try {
        this.kind = 'websocket';
        return new Socket(url, protocols);
      } catch (err) {
        // A page whose policy forbids WebSocket throws here: the stream is the way in.
        if (transport !== 'auto' || !Sse) throw err;
      }
    }
    if (!Sse) throw new Error('no transport: no WebSocket class and no fetch for Server-Sent Events');
    if (this.kind === 'websocket') this.fellBackAt = Date.now();
    this.kind = 'sse';
    return new Sse(url, protocols);
  }

  /** Every end of a socket comes here once: reconnect, or stop for good. */
  private disconnected(code: number, reason: string): void {
    if (this.kind === 'websocket') this.websocketFailures = this.isWelcomed ? 0 : this.websocketFailures + 1;
    // Neither transport reached the server: it is away, not WebSocket blocked (unless SSE
    // worked before): WebSocket first again.
    else if (!this.isWelcomed && !this.sseWorked) this.websocketFailures = 0;
    if (this.isWelcomed && Date.now() - this.openedAt >= STABLE_AFTER_MS) this.attempt = 0;
    this.isWelcomed = false;
    this.hooks.reset();
    this.timers.cancel('connect');
    if (this.closingPromise) return;
    const terminal = terminalCloseError(code, reason);
    if (terminal) return this.stop(terminal);
    if (code === CloseCode.TokenInvalid) {
      if (!this.hooks.canRenewToken()) return this.stop(new LiveError(ClientErrorCode.TokenExpired, 'the token expired or was refused (4001) and there is no getToken', { closeCode: code }));
      this.hooks.tokenRefused();
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    // 'connecting' until the first welcome, 'reconnecting' after a connection was lost.
    this.hooks.state(this.sessionId === undefined ? 'connecting' : 'reconnecting');
    // A gateway that is draining or over capacity said when to come back: no sooner, and
    // spread over as long again, so a crowd refused together does not return together.
    const retryAfter = this.retryAfterMs;
    this.retryAfterMs = undefined;
    const delay = Math.max(backoffDelay(this.attempt, this.settings.backoff), retryAfter === undefined ? 0 : retryAfter * (1 + Math.random()));
    this.attempt++;
    this.timers.set('reconnect', delay, () => void this.open());
  }

  /** Stops for good (a terminal close code, or no way to get a token), keeping topics for a later `connect()`. */
  private stop(error: LiveError): void {
    this.currentGeneration++;
    this.timers.clear();
    this.isWelcomed = false;
    if (this.socket) this.abandonSocket();
    this.hooks.error(error);
    this.hooks.state('closed');
  }

  /** Silences and drops the socket; the caller decides what follows (disconnected or stop). */
  private abandonSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) abandon(socket);
  }
}
