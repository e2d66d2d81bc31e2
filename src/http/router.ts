/**
 * The one wrapper every HTTP route goes through (REST, `/health`, `/metrics`; CONTRACT
 * section 6, docs/rest.md).
 *
 * # The uWS way
 * The request is copied into a `Request` before anything else (request.ts). `onAborted` is
 * registered before the first await; once the client is gone nothing is written, and the
 * route's `signal` fires so that waits (long-poll) are released at once. Each answer is
 * written inside `cork`, in one piece.
 *
 * # Metrics
 * Each answer counts in `navimpact_http_requests_total{route,status}` and its time from
 * arrival to the write in `navimpact_http_request_duration_seconds{route}`; a request whose
 * client went away is in neither.
 *
 * # Errors
 * A route throws `HttpError` for every answer that is not a success; the wrapper writes
 * its body (errors.ts) with its status. Anything else is a bug: logged with code
 * `HttpFailed`, answered 500 `internal`, never with its message.
 */
import { HttpErrorCode, LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { reportError } from '../observability/sentry.js';
import type { Cors } from './cors.js';
import { HttpError, errorBody } from './errors.js';
import { MAX_QUERY_BYTES } from './query.js';
import { Incoming, type Handler, type Reply, type Request } from './request.js';
import { statusLine } from './status.js';
import type { HttpResponse, TemplatedApp } from './uws.js';

export interface RouterOptions {
  cors: Cors;
  log: Logger;
  metrics: Metrics;
}

const JSON_TYPE = 'application/json';

export class Router {
  private readonly counters = new Map<string, { inc(): void }>();
  private readonly timers = new Map<string, { observe(seconds: number): void }>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly options: RouterOptions,
  ) {}

  /** A GET route (HEAD is not offered) and its CORS preflight; `name` labels its metrics. */
  get(pattern: string, name: string, paramCount: number, handler: Handler): void {
    this.app.get(pattern, (res, req) => {
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
      const started = performance.now();
      // The peer address is read only when asked (a request without a valid token is limited
      // by it), while the response is still open.
      const request = new Incoming(pattern, req.getQuery() ?? '', params, () => Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('authorization'), req.getHeader('origin'), req.getHeader('if-none-match'));
      this.run(res, request, name, handler, started);
    });
    this.app.options(pattern, (res, req) => this.count('preflight', this.options.cors.preflight(res, req.getHeader('origin'))));
  }

  /**
   * A reply the handler has at once (a cached grant, a refusal) is written before uWS's
   * handler returns; only a pending one registers `onAborted` (uWS requires it of an answer
   * written later) and waits.
   */
  private run(res: HttpResponse, req: Incoming, name: string, handler: Handler, started: number): void {
    let pending: Promise<Reply> | Reply;
    try {
      if (req.query.length > MAX_QUERY_BYTES) throw new HttpError(414, HttpErrorCode.QueryTooLong, `the query string is longer than ${MAX_QUERY_BYTES} bytes`);
      pending = handler(req);
    } catch (err) {
      pending = this.errorReply(err, req, name);
    }
    if (!(pending instanceof Promise)) return this.send(res, req, name, pending, started);
    res.onAborted(() => req.abort());
    pending.then(
      (reply) => this.write(res, req, name, reply, started),
      (err: unknown) => this.write(res, req, name, this.errorReply(err, req, name), started),
    );
  }

  private errorReply(err: unknown, req: Request, name: string): Reply {
    if (err instanceof HttpError) return { status: err.status, headers: err.headers, body: errorBody(err.code, err.message, err.details) };
    this.options.log.error({ code: LogCode.HttpFailed, err, route: name, url: req.url }, 'request failed');
    reportError(err, LogCode.HttpFailed, { route: name });
    return { status: 500, body: errorBody(HttpErrorCode.Internal, 'internal error') };
  }

  /** An answer written after uWS's handler returned: in a cork, unless the client went away. */
  private write(res: HttpResponse, req: Incoming, name: string, reply: Reply, started: number): void {
    if (req.aborted) return;
    res.cork(() => this.send(res, req, name, reply, started));
  }

  /** Writes the answer; inside uWS's handler the response is corked already. */
  private send(res: HttpResponse, req: Incoming, name: string, reply: Reply, started: number): void {
    const status = reply.status ?? 200;
    this.count(name, status);
    this.time(name, started);
    // uWS writes `200 OK` itself when no status was written.
    if (status !== 200) res.writeStatus(statusLine(status));
    this.options.cors.headers(res, req.header('origin'));
    if (reply.body !== undefined) res.writeHeader('content-type', reply.contentType ?? JSON_TYPE);
    const headers = reply.headers;
    if (headers) for (const k in headers) res.writeHeader(k, headers[k]!);
    res.end(reply.body ?? '');
  }

  /** prom-client hashes labels on every `inc`; the children are looked up once. */
  private count(route: string, status: number): void {
    const key = `${route} ${status}`;
    let child = this.counters.get(key);
    if (!child) this.counters.set(key, (child = this.options.metrics.httpRequests.labels({ route, status: String(status) })));
    child.inc();
  }

  private time(route: string, started: number): void {
    let child = this.timers.get(route);
    if (!child) this.timers.set(route, (child = this.options.metrics.httpDuration.labels({ route })));
    child.observe((performance.now() - started) / 1_000);
  }
}
