/**
 * The WebSocket protocol of CONTRACT section 5 spoken over Server-Sent Events (section 5a),
 * for networks that block WebSocket: a `SocketLike` the connection uses exactly as it uses a
 * WebSocket. It answers what the server would (`welcome`, `subscribed`, `unsubscribed`,
 * `pong`, `auth_ok`) and turns the one-way stream into `grant` frames.
 *
 * # The stream
 * One `GET /v1/live/sse` with every subscribed topic (fetch with `Authorization: Bearer`,
 * so the token stays out of URLs), restarted when the topics change, resuming from the last
 * `id` it saw (`Last-Event-ID`), or from the lowest `since` asked. `event: reset` answers
 * every resumed topic `recovered: false`; `event: expired` reopens the stream with a token
 * given by `auth` meanwhile, or ends the socket with 4001 so that the client renews its
 * token. A stream that ends or fails ends the socket (1006): the client reconnects and
 * resumes as after any drop.
 *
 * # Liveness
 * The server writes a comment every heartbeat. `ping` is answered only while the stream
 * spoke within two heartbeats, so the client's silence watchdog sees a dead stream.
 */
import { ClientFrame, type Topic } from '../domain/frames.js';
import { CloseCode } from '../domain/codes.js';
import { SseParser } from './sse-parse.js';
import { CLOSED, OPEN, type SocketConstructor, type SocketLike } from './socket.js';
import { tokenExpiresAt } from './token.js';

/** The gateway's default heartbeat (GATEWAY_HEARTBEAT); the stream's comments come at least this often. */
const SSE_HEARTBEAT_MS = 25_000;
const CONNECTING = 0;
const CLOSING = 2;

/** `ws[s]://host/v1/live` -> `http[s]://host/v1/live/sse`. */
export function sseUrl(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/sse`;
  return url.toString();
}

/** A socket class speaking over SSE with `fetchImpl`. */
export function sseSocketClass(fetchImpl: typeof fetch): SocketConstructor {
  return class extends SseSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(fetchImpl, url, protocols);
    }
  };
}

class SseSocket implements SocketLike {
  readyState = CONNECTING;
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;

  private readonly url: string;
  private token: string;
  /** A token given by `auth` for the next stream. */
  private nextToken: string | undefined;
  /** Topics and the `since` each was subscribed with (undefined: from now). */
  private readonly topics = new Map<Topic, number | undefined>();
  /** Subscribe/unsubscribe answers waiting for the next stream's response. */
  private answers: ClientFrame[] = [];
  private lastEventId: string | undefined;
  private stream: AbortController | undefined;
  private restartQueued = false;
  private lastHeard = Date.now();

  constructor(
    private readonly fetchImpl: typeof fetch,
    url: string,
    protocols?: string | string[],
  ) {
    this.url = sseUrl(url);
    const bearer = [protocols ?? []].flat().find((p) => p.startsWith('bearer.'));
    this.token = bearer?.slice('bearer.'.length) ?? '';
    void this.reach();
  }

  /**
   * The stream opens only once topics are subscribed, which follows the welcome; so first
   * one request without topics (the gateway answers it 400 at once, taking no admission
   * slot) shows that the gateway answers HTTP at all. A server that is down is then not
   * "welcomed": the socket fails as a WebSocket to a dead host would.
   */
  private async reach(): Promise<void> {
    const controller = new AbortController();
    this.stream = controller;
    let status: number;
    try {
      const res = await this.fetchImpl(this.url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      if (this.stream === controller) this.fail(`SSE unreachable: ${(err as Error).message}`);
      return;
    }
    if (this.stream !== controller || this.readyState !== CONNECTING) return;
    this.stream = undefined;
    if (status >= 500) return this.fail(`SSE answered ${status}`);
    this.readyState = OPEN;
    this.onopen?.({});
    this.deliver({ type: 'welcome', session: `sse-${Math.random().toString(36).slice(2)}`, heartbeatMs: SSE_HEARTBEAT_MS, expiresAt: tokenExpiresAt(this.token) ?? 0 });
  }

  send(data: string): void {
    if (this.readyState !== OPEN) return;
    const parsed = ClientFrame.safeParse(JSON.parse(data));
    if (!parsed.success) return;
    const frame = parsed.data;
    switch (frame.type) {
      case 'ping':
        if (Date.now() - this.lastHeard < 2 * SSE_HEARTBEAT_MS) this.deliver({ type: 'pong', ...(frame.ref === undefined ? {} : { ref: frame.ref }) });
        return;
      case 'auth':
        this.nextToken = frame.token;
        return this.deliver({ type: 'auth_ok', expiresAt: tokenExpiresAt(frame.token) ?? 0, ...(frame.ref === undefined ? {} : { ref: frame.ref }) });
      case 'subscribe':
        this.topics.set(frame.topic, frame.since);
        this.answers.push(frame);
        return this.restart();
      case 'unsubscribe':
        this.topics.delete(frame.topic);
        this.answers.push(frame);
        return this.restart();
    }
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    this.finish(code, reason);
  }

  /** Reopens the stream once the current burst of subscribes has been sent. */
  private restart(): void {
    if (this.restartQueued) return;
    this.restartQueued = true;
    queueMicrotask(() => {
      this.restartQueued = false;
      if (this.readyState === OPEN) void this.open();
    });
  }

  private async open(): Promise<void> {
    this.stream?.abort();
    const controller = new AbortController();
    this.stream = controller;
    const answers = this.answers;
    this.answers = [];
    const query = [...this.topics.keys()].map((t) => `topic=${encodeURIComponent(t)}`).join('&');
    // From where the last stream got to (or the topics' own `since` on the first), and never
    // after the `since` of a topic subscribed now: frames a topic already had are dropped by
    // the client's topic table, frames it lacks must come.
    const known = this.lastEventId !== undefined ? [Number(this.lastEventId)] : [...this.topics.values()].filter((s): s is number => s !== undefined);
    const asked = answers.flatMap((f) => (f.type === 'subscribe' && f.since !== undefined ? [f.since] : []));
    const positions = [...known, ...asked];
    const since = positions.length ? String(Math.min(...positions)) : undefined;
    if (query === '') return this.answer(answers, undefined);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.url}?${query}`, {
        headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream', ...(since === undefined ? {} : { 'last-event-id': since }) },
        signal: controller.signal,
      });
    } catch (err) {
      if (this.stream === controller) this.fail(`SSE stream failed: ${(err as Error).message}`);
      return;
    }
    if (this.stream !== controller) return void res.body?.cancel().catch(() => undefined);
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      // The WebSocket's refused upgrade says its status in the error message; so does this,
      // with the Retry-After of a gateway that is draining or over capacity.
      const retryAfter = Number(res.headers.get('retry-after'));
      this.onerror?.({ message: `Unexpected server response: ${res.status}`, ...(retryAfter > 0 ? { retryAfterMs: retryAfter * 1_000 } : {}) });
      return this.finish(res.status === 400 ? CloseCode.MalformedFrame : 1006, `SSE answered ${res.status}`);
    }
    this.answer(answers, since === undefined ? undefined : Number(since));
    const parser = new SseParser(
      (event) => this.event(event.event, event.data, event.id),
      () => (this.lastHeard = Date.now()),
    );
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (this.stream !== controller) return void reader.cancel().catch(() => undefined);
        if (done) break;
        parser.push(value);
      }
      if (this.stream === controller) this.fail('SSE stream ended');
    } catch (err) {
      if (this.stream === controller) this.fail(`SSE stream failed: ${(err as Error).message}`);
    }
  }

  /** What the server would have answered to the subscribes and unsubscribes this stream carries. */
  private answer(answers: ClientFrame[], since: number | undefined): void {
    for (const frame of answers) {
      const ref = frame.ref === undefined ? {} : { ref: frame.ref };
      if (frame.type === 'subscribe') this.deliver({ type: 'subscribed', topic: frame.topic, seq: frame.since ?? since ?? 0, recovered: true, ...ref });
      else if (frame.type === 'unsubscribe') this.deliver({ type: 'unsubscribed', topic: frame.topic, ...ref });
    }
  }

  private event(name: string, data: string, id: string | undefined): void {
    if (id !== undefined) this.lastEventId = id;
    if (name === 'grant') return this.deliver(data);
    if (name === 'reset') {
      // Outside the resume window: every topic that resumed reloads; the stream goes on live.
      this.lastEventId = undefined;
      for (const [topic, since] of this.topics) if (since !== undefined) this.deliver({ type: 'subscribed', topic, seq: 0, recovered: false });
      return;
    }
    if (name === 'expired') {
      if (this.nextToken !== undefined && this.nextToken !== this.token) {
        this.token = this.nextToken;
        return void this.open();
      }
      return this.finish(CloseCode.TokenInvalid, 'token invalid or expired');
    }
  }

  private deliver(frame: unknown): void {
    if (this.readyState !== OPEN) return;
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  private fail(reason: string): void {
    this.finish(1006, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.stream?.abort();
    this.stream = undefined;
    this.onclose?.({ code, reason });
  }
}
