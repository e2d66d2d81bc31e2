/**
 * `LiveClient`: one logical connection to the gateway's `/v1/live` that survives network
 * drops, gateway restarts and token expiry (docs/protocol.md, "The SDK").
 *
 * # Lifecycle
 * `connect()` starts it; the connection (connection.ts) reconnects after every drop until
 * `close()` or a close code that reconnecting cannot fix. `close()` is idempotent and final:
 * it silences the socket, cancels every timer and aborts reload requests, so the client
 * holds nothing afterwards (`pendingTimers` is 0).
 *
 * # Parts
 * The client wires its parts together and keeps the public surface; each part is a file:
 * connection.ts (the socket, reconnects, `generation`), credentials.ts (the token and its
 * refresh), dispatch.ts (what each server frame does), requests.ts (refs in flight),
 * heartbeat.ts (ping and the silence watchdog), reloads.ts (reloads and the frames held
 * meanwhile), topics.ts (resume and de-duplication). They share one `Timers`, so
 * `pendingTimers` counts them all.
 */
import type { Topic } from '../domain/frames.js';
import { DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
import { Connection, type Transport } from './connection.js';
import { Credentials } from './credentials.js';
import { received, type ClientParts } from './dispatch.js';
import { Emitter, rethrowLater } from './emitter.js';
import { ClientErrorCode, LiveError } from './errors.js';
import type { ConnectionState, Emit, LiveClientEvents } from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Reloads } from './reloads.js';
import { Requests } from './requests.js';
import type { SocketConstructor } from './socket.js';
import { sseSocketClass } from './sse-socket.js';
import { fetchSnapshot } from './reload.js';
import { filterQuery, LiveView, type ViewOptions } from './view.js';
import type { GrantFilter } from '../domain/filter.js';
import { Timers } from './timers.js';
import { parseTopic, TopicTable } from './topics.js';

/** How to reach the gateway and get tokens; only `url` and one of `token`/`getToken` are required. */
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
  /**
   * 'auto' (default): WebSocket, and Server-Sent Events (`/v1/live/sse`, over `fetch`) when
   * WebSocket fails twice in a row before `welcome` (a network that blocks it); WebSocket
   * is tried again every 5 minutes. 'websocket' or 'sse' use only that one.
   */
  transport?: Transport;
}

/** The SDK's client: subscribe to topics, listen for their events, `connect()`, and `close()` when done. */
export class LiveClient extends Emitter<LiveClientEvents> {
  private readonly timers = new Timers();
  private readonly topicTable = new TopicTable();
  private readonly link: Connection;
  private readonly credentials: Credentials;
  private readonly requests: Requests;
  private readonly heartbeat: Heartbeat;
  private readonly reloads: Reloads;

  private currentState: ConnectionState = 'closed';
  private started = false;
  private readonly views = new Set<LiveView>();
  private readonly restBase: string | undefined;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(options: LiveClientOptions) {
    super();
    const transport = options.transport ?? 'auto';
    // Bound: a browser's fetch called as a method of anything but the window throws "Illegal
    // invocation" (the SSE socket keeps it as a field).
    const fetchImpl = options.fetch ?? (typeof fetch === 'function' ? fetch.bind(globalThis) : undefined);
    const Socket = transport === 'sse' ? undefined : (options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket);
    const Sse = transport !== 'websocket' && fetchImpl ? sseSocketClass(fetchImpl) : undefined;
    if (!Socket && transport !== 'sse') throw new TypeError('LiveClient: no WebSocket class; pass options.WebSocket (in Node 20, the `ws` package\'s WebSocket), or transport: \'sse\'');
    if (!Sse && transport === 'sse') throw new TypeError('LiveClient: transport \'sse\' needs fetch');
    if (options.token === undefined && options.getToken === undefined) throw new TypeError('LiveClient: give token or getToken');

    const emit: Emit = (event, payload) => this.emit(event, payload);
    const setState = (state: ConnectionState) => this.setState(state);
    const backoff = { baseMs: options.reconnect?.baseMs ?? DEFAULT_RECONNECT.baseMs, maxMs: options.reconnect?.maxMs ?? DEFAULT_RECONNECT.maxMs };
    const settings = { url: options.url, Socket, Sse, transport, backoff, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 };
    // The parts below are created after the connection; its hooks only run once connect() is called.
    this.link = new Connection(settings, this.timers, {
      token: () => this.credentials.usable(),
      tokenRefused: () => this.credentials.markRefused(),
      canRenewToken: () => this.credentials.renewable,
      opened: () => this.heartbeat.heard(),
      message: (data) => received(data, parts),
      reset: () => {
        this.requests.clear();
        this.credentials.reset();
        this.heartbeat.stop();
      },
      state: setState,
      error: (error) => this.emit('error', error),
    });
    this.requests = new Requests(this.topicTable, (frame) => this.link.send(frame));
    this.heartbeat = new Heartbeat(this.timers, this.link);
    this.credentials = new Credentials(options.token, options.getToken, this.timers, {
      link: this.link,
      auth: (token) => this.requests.auth(token),
      error: (error) => this.emit('error', error),
    });
    this.fetchImpl = fetchImpl;
    this.restBase = options.restBaseUrl ?? restBaseOf(options.url);
    this.reloads = new Reloads({ onReload: options.onReload, restBaseUrl: options.restBaseUrl, fetch: fetchImpl }, () => this.credentials.current, emit);
    const parts: ClientParts = {
      link: this.link,
      topics: this.topicTable,
      requests: this.requests,
      credentials: this.credentials,
      heartbeat: this.heartbeat,
      reloads: this.reloads,
      emit,
      setState,
      reloadViews: (topic) => {
        const views = [...this.views].filter((v) => v.topic === topic);
        for (const view of views) view.reload();
        return views.length > 0;
      },
    };
  }

  // ---- public surface ----------------------------------------------------------------------

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The transport of the current (or last) connection: 'websocket', or 'sse' after a fallback. */
  get transport(): 'websocket' | 'sse' {
    return this.link.transport;
  }

  /** The session id of the current connection (from `welcome`). */
  get session(): string | undefined {
    return this.link.session;
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
    if (this.link.closing) return handled(Promise.reject(new LiveError(ClientErrorCode.Closed, 'the client was closed')));
    const opened = this.whenOpen();
    if (!this.started || this.currentState === 'closed') {
      this.started = true;
      this.link.start();
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
    if (this.link.welcomed) this.requests.subscribe(t);
  }

  /**
   * A live, ordered collection of the grants matching `filter` (an object of the filter
   * grammar, or its query string such as `status=open&location=VIC`; empty: every grant):
   * a REST snapshot, then the filtered topic from the snapshot's seq (view.ts). Needs REST:
   * `restBaseUrl`, or the gateway's own address. Throws a TypeError for a malformed filter.
   */
  view(filter: GrantFilter | string = '', options: ViewOptions = {}): LiveView {
    const query = filterQuery(filter);
    const topic = parseTopic(query === '' ? 'grants' : `grants?${query}`);
    const restBase = this.restBase;
    const fetchImpl = this.fetchImpl;
    if (!restBase || !fetchImpl) throw new TypeError('LiveClient.view needs restBaseUrl and fetch');
    const view = new LiveView(topic, {
      subscribe: (t, o) => this.subscribe(t, o),
      unsubscribe: (t) => {
        if (![...this.views].some((v) => v.topic === t)) this.unsubscribe(t);
      },
      onGrant: (listener) => this.on('grant', listener),
      snapshot: async (t, signal) => fetchSnapshot(restBase, t, await this.credentials.usable(), fetchImpl, signal),
      detach: (v) => this.views.delete(v),
    }, options);
    this.views.add(view);
    return view;
  }

  unsubscribe(topic: string): void {
    const t = parseTopic(topic);
    if (!this.topicTable.remove(t)) return;
    if (this.link.welcomed) this.requests.unsubscribe(t);
  }

  /**
   * Ends the client for good (idempotent): closes the socket with 1000, cancels every timer
   * and reload. Resolves when the socket has closed.
   */
  close(): Promise<void> {
    if (this.link.closing) return this.link.closing;
    const closing = this.link.close();
    this.reloads.abort();
    this.requests.clear();
    this.setState('closed');
    return closing;
  }

  /**
   * TEST HOOK, not for applications: drops the socket as a network failure would (no close
   * handshake), so tests can exercise resume without controlling the network. The client
   * reconnects as after any drop.
   */
  dropConnection(): void {
    this.link.drop('dropped');
  }

  protected override listenerError(event: keyof LiveClientEvents, err: unknown): void {
    // An 'error' listener that throws has nowhere left to report to: surface it as an EventTarget would.
    if (event === 'error') return rethrowLater(err);
    this.emit('error', new LiveError(ClientErrorCode.ListenerThrew, `a '${String(event)}' listener threw`, { cause: err }));
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
}

/** The REST base of a gateway's WebSocket URL: `wss://host/v1/live` -> `https://host`. */
function restBaseOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

/** Marks a promise as handled (a caller that never awaits it causes no unhandled rejection) and returns it. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
