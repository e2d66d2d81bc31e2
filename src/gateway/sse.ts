/**
 * Server-Sent Events (CONTRACT v1.1 section 5a): `GET /v1/live/sse?topic=T[&topic=T2...]`,
 * the same topics, frames and resume as the WebSocket, one way, for networks that block
 * WebSocket.
 *
 * # A stream
 * Auth by `Authorization: Bearer` or the `access_token` query parameter (EventSource cannot
 * set headers; the query string is never logged); CORS as REST. Each frame is an event
 * `event: grant` with the frame as `data`; the last frame of a stream sequence carries
 * `id: <seq>`, so a stream cut between two frames of one sequence resumes before both (the
 * SDK drops what it already holds by version). A comment line every GATEWAY_HEARTBEAT.
 * `Last-Event-ID` (or `since=N`) resumes exactly as `since` does on the WebSocket; outside
 * the window the first event is `event: reset` and the client reloads from REST. When the
 * token runs out: `event: expired`, and the response ends.
 *
 * # Backpressure
 * uWS buffers what the client has not read. A stream whose unsent bytes pass
 * GATEWAY_MAX_BUFFER is ended; the client reconnects with its Last-Event-ID.
 */
import { parseBearer } from '../auth/bearer.js';
import { TokenError, type TokenVerifier } from '../auth/verifier.js';
import { HttpErrorCode, LogCode, RefusalReason, type AuthFailure } from '../domain/codes.js';
import { Topic } from '../domain/frames.js';
import type { Principal } from '../domain/token.js';
import type { ChangeFeed, FeedEvent, ReplayScope } from '../feed/types.js';
import type { Cors } from '../http/cors.js';
import { errorBody } from '../http/errors.js';
import { statusLine } from '../http/status.js';
import type { HttpResponse, TemplatedApp } from '../http/uws.js';
import { sleep } from '../lifecycle/retry.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { Admission } from './admission.js';
import type { GatewayOptions } from './gateway.js';
import type { Sockets } from './sockets.js';
import { canonicalTopic, Views } from './views.js';
import type { GrantFilter } from '../domain/filter.js';

/** How long a `since` ahead of this feed may wait for the feed to catch up. */
const AHEAD_WAIT_MS = 2_000;
const SINCE = /^\d{1,15}$/;

interface StreamTopic {
  topic: string;
  filter?: GrantFilter;
}

/** One open SSE response. */
interface Stream {
  res: HttpResponse;
  sub: string;
  topics: StreamTopic[];
  /** True when the stream includes `grants`: its `grant:<id>` topics add nothing. */
  all: boolean;
  /** Frames that arrived while the stream replayed; undefined once live. */
  held: FeedEvent[] | undefined;
  /** Bytes written since uWS last had room (undefined: not congested). */
  congested: number | undefined;
  lastWrite: number;
  expiry: NodeJS.Timeout | undefined;
  /** Aborted when the stream ends: a wait on the feed ends with it. */
  waiting: AbortController;
  closed: boolean;
}

/** What the route knows of a response while it opens: aborted by the client, and the stream once made. */
interface Opening {
  aborted: boolean;
  stream: Stream | undefined;
}

class BadRequest extends Error {
  constructor(
    readonly code: typeof HttpErrorCode.InvalidQuery | typeof HttpErrorCode.BadFilter,
    message: string,
  ) {
    super(message);
  }
}

export class SseStreams {
  private readonly streams = new Set<Stream>();
  private stopping = false;

  constructor(
    private readonly options: GatewayOptions,
    private readonly feed: ChangeFeed,
    private readonly views: Views,
    private readonly admission: Admission,
    private readonly verifier: TokenVerifier,
    private readonly sockets: Sockets,
    private readonly cors: Cors,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  mount(app: TemplatedApp): void {
    app.get('/v1/live/sse', (res, req) => {
      const query = req.getQuery() ?? '';
      const authorization = req.getHeader('authorization');
      const origin = req.getHeader('origin');
      const lastEventId = req.getHeader('last-event-id');
      // The request object is gone after the first await: everything needed is copied above.
      const state: Opening = { aborted: false, stream: undefined };
      res.onAborted(() => {
        state.aborted = true;
        if (state.stream) this.close(state.stream);
      });
      void this.open(res, query, authorization, origin, lastEventId, state);
    });
  }

  /** Every valid event of the feed, in order. */
  dispatch(event: FeedEvent): void {
    for (const stream of this.streams) {
      if (stream.held) stream.held.push(event);
      else this.send(stream, event, (t) => (t.filter ? this.views.framesFor(event).get(t.topic) : undefined));
    }
  }

  /** Ends every stream, spread over `durationMs` (the drain); new streams are refused meanwhile. */
  async drain(durationMs: number): Promise<void> {
    this.stopping = true;
    const streams = [...this.streams];
    const start = Date.now();
    for (let i = 0; i < streams.length; i++) {
      const due = start + (i * durationMs) / streams.length;
      if (due > Date.now()) await sleep(due - Date.now());
      const stream = streams[i]!;
      if (!stream.closed) stream.res.cork(() => stream.res.end());
      this.close(stream);
    }
  }

  /** Ends every stream (the client reconnects elsewhere with its Last-Event-ID). */
  stop(): void {
    this.stopping = true;
    this.endAll();
  }

  /** Ends every stream and stays open for new ones (the stream broke: clients resume and get `reset`). */
  endAll(): void {
    for (const stream of [...this.streams]) {
      if (!stream.closed) stream.res.cork(() => stream.res.end());
      this.close(stream);
    }
  }

  /** A comment on every idle stream, so proxies and the client know it is alive. */
  heartbeat(now: number): void {
    for (const stream of this.streams) if (!stream.held && now - stream.lastWrite >= this.options.GATEWAY_HEARTBEAT) this.write(stream, ': ping\n\n');
  }

  private async open(res: HttpResponse, query: string, authorization: string, origin: string, lastEventId: string, state: Opening): Promise<void> {
    const aborted = () => state.aborted;
    let topics: StreamTopic[];
    let since: number | undefined;
    let token: string | undefined;
    try {
      ({ topics, since, token } = this.parse(query, lastEventId));
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      return this.refuse(res, origin, 400, err.code, err.message);
    }
    const admitted = this.stopping ? ({ ok: false, retryAfterSeconds: 1, reason: 'draining' } as const) : this.admission.admit();
    if (!admitted.ok) {
      const reason = admitted.reason === 'draining' ? RefusalReason.ShuttingDown : RefusalReason.OverCapacity;
      return this.refuse(res, origin, 503, reason, admitted.reason === 'draining' ? 'server shutting down' : 'too many connections at once; retry later', { 'retry-after': String(admitted.retryAfterSeconds) });
    }
    token = parseBearer(authorization || undefined) ?? token;
    if (!token) return this.refuse(res, origin, 401, 'missing', 'a bearer token is required (Authorization header or access_token)');
    let principal: Principal;
    try {
      principal = await this.verifier.verify(token);
    } catch (err) {
      if (aborted()) return;
      const reason: AuthFailure = err instanceof TokenError ? err.reason : 'malformed';
      return this.refuse(res, origin, 401, reason, err instanceof TokenError ? err.message : 'token refused');
    }
    if (aborted()) return;
    if (this.sockets.heldBy(principal.sub) >= this.options.GATEWAY_MAX_CONNECTIONS_PER_SUB) {
      return this.refuse(res, origin, 429, RefusalReason.TooManyConnections, 'too many connections for this subject');
    }
    this.sockets.reserve(principal.sub);
    const stream: Stream = { res, sub: principal.sub, topics, all: topics.some((t) => t.topic === 'grants'), held: [], congested: undefined, lastWrite: Date.now(), expiry: undefined, waiting: new AbortController(), closed: false };
    for (const t of topics) if (t.filter) this.views.hold(t.topic, t.filter);
    this.streams.add(stream);
    this.metrics.sseStreams.inc();
    state.stream = stream;
    res.onWritable(() => {
      stream.congested = undefined;
      return true;
    });
    res.cork(() => {
      res.writeStatus(statusLine(200));
      this.cors.headers(res, origin);
      res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
      res.writeHeader('cache-control', 'no-store');
      res.writeHeader('x-accel-buffering', 'no');
      res.write(`retry: 1000\n: subscribed ${topics.map((t) => t.topic).join(' ')}\n\n`);
    });
    stream.expiry = setTimeout(() => this.expire(stream), Math.max(0, principal.expiresAt - Date.now()));
    await this.resume(stream, since);
  }

  private parse(query: string, lastEventId: string): { topics: StreamTopic[]; since: number | undefined; token: string | undefined } {
    const topics: StreamTopic[] = [];
    let since: string | undefined;
    let token: string | undefined;
    for (const [name, value] of new URLSearchParams(query)) {
      if (name === 'topic') {
        const valid = Topic.safeParse(value);
        if (!valid.success || value === 'metrics') throw new BadRequest(HttpErrorCode.InvalidQuery, 'topic must be grants, grants?<filter> or grant:<uuid>');
        const canonical = canonicalTopic(value);
        if ('error' in canonical) throw new BadRequest(HttpErrorCode.BadFilter, canonical.error.message);
        if (!topics.some((t) => t.topic === canonical.topic)) topics.push(canonical.filter ? { topic: canonical.topic, filter: canonical.filter } : { topic: canonical.topic });
      } else if (name === 'since' && since === undefined) since = value;
      else if (name === 'access_token' && token === undefined) token = value;
      else throw new BadRequest(HttpErrorCode.InvalidQuery, `unknown or repeated query parameter "${name.slice(0, 40)}" (allowed: topic, since, access_token)`);
    }
    if (topics.length === 0) throw new BadRequest(HttpErrorCode.InvalidQuery, 'at least one topic is required');
    if (topics.length > this.options.GATEWAY_MAX_SUBSCRIPTIONS) throw new BadRequest(HttpErrorCode.InvalidQuery, `at most ${this.options.GATEWAY_MAX_SUBSCRIPTIONS} topics`);
    const position = lastEventId !== '' ? lastEventId : since;
    if (position !== undefined && !SINCE.test(position)) throw new BadRequest(HttpErrorCode.InvalidQuery, 'since and Last-Event-ID must be a stream sequence');
    return { topics, since: position === undefined ? undefined : Number(position), token };
  }

  /** Replays (since, head] when asked and possible, then sends what arrived meanwhile, then goes live. */
  private async resume(stream: Stream, since: number | undefined): Promise<void> {
    try {
      if (since !== undefined && since !== this.feed.head) {
        const first = await this.feed.firstSeq();
        // As on the WebSocket: a moment to catch up with a client from a gateway ahead of this one.
        if (since > this.feed.head && since - this.feed.head <= this.options.GATEWAY_REPLAY_LIMIT) await this.feed.reached(since, AHEAD_WAIT_MS, stream.waiting.signal);
        if (stream.closed) return;
        const head = this.feed.head;
        if (since > head || since < first - 1 || head - since > this.options.GATEWAY_REPLAY_LIMIT) {
          this.write(stream, 'event: reset\ndata: {}\n\n');
        } else {
          const grants = stream.topics.filter((t) => t.topic.startsWith('grant:'));
          const scope: ReplayScope = !stream.all && grants.length === 1 && stream.topics.length === 1 ? { grant: grants[0]!.topic.slice('grant:'.length) } : 'all';
          const complete = await this.feed.replay(scope, since, head, (event) => !stream.closed && this.send(stream, event, (t) => Views.frameFor(t.topic, t.filter!, event)));
          if (!complete) return;
        }
      }
    } catch (err) {
      this.log.warn({ code: LogCode.GatewayReplayFailed, err }, 'could not replay for a resuming SSE stream; ending it (the client resumes again)');
      if (!stream.closed) stream.res.cork(() => stream.res.end());
      this.close(stream);
      return;
    }
    const held = stream.held ?? [];
    stream.held = undefined;
    for (const event of held) if (!this.send(stream, event, (t) => (t.filter ? this.views.framesFor(event).get(t.topic) ?? Views.frameFor(t.topic, t.filter, event) : undefined))) return;
  }

  /** Writes `event`'s frames for the stream's topics; false when the stream ended. */
  private send(stream: Stream, event: FeedEvent, viewFrame: (t: StreamTopic) => string | undefined): boolean {
    const frames: string[] = [];
    for (const t of stream.topics) {
      if (t.topic === 'grants') frames.push(event.frame);
      else if (t.topic.startsWith('grant:')) {
        if (!stream.all && t.topic === `grant:${event.id.toLowerCase()}`) frames.push(event.frame);
      } else {
        const frame = viewFrame(t);
        if (frame !== undefined) frames.push(frame);
      }
    }
    if (frames.length === 0) return !stream.closed;
    const text = frames.map((frame, i) => `event: grant\ndata: ${frame}\n${i === frames.length - 1 ? `id: ${event.seq}\n` : ''}\n`).join('');
    return this.write(stream, text);
  }

  private write(stream: Stream, text: string): boolean {
    if (stream.closed) return false;
    stream.lastWrite = Date.now();
    let ok = true;
    stream.res.cork(() => {
      ok = stream.res.write(text);
    });
    if (ok) return true;
    stream.congested = (stream.congested ?? 0) + text.length;
    if (stream.congested > this.options.GATEWAY_MAX_BUFFER) {
      this.metrics.wsSlowDisconnects.inc();
      stream.res.cork(() => stream.res.end());
      this.close(stream);
      return false;
    }
    return true;
  }

  private expire(stream: Stream): void {
    if (stream.closed) return;
    this.write(stream, 'event: expired\ndata: {}\n\n');
    if (!stream.closed) stream.res.cork(() => stream.res.end());
    this.close(stream);
  }

  /** The one cleanup of a stream, however it ends. Idempotent. */
  private close(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.waiting.abort();
    clearTimeout(stream.expiry);
    this.streams.delete(stream);
    for (const t of stream.topics) if (t.filter) this.views.release(t.topic);
    this.sockets.unreserve(stream.sub);
    this.metrics.sseStreams.dec();
  }

  private refuse(res: HttpResponse, origin: string, status: number, code: HttpErrorCode | RefusalReason, message: string, headers: Record<string, string> = {}): void {
    if (status === 401 || status === 429 || status === 503) this.metrics.wsAuthFailures.inc({ reason: code });
    res.cork(() => {
      res.writeStatus(statusLine(status));
      this.cors.headers(res, origin);
      res.writeHeader('content-type', 'application/json');
      for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
      res.end(errorBody(code, message));
    });
  }
}
