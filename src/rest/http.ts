/**
 * REST on uWebSockets.js: one wrapper that every route goes through (CONTRACT section 6,
 * docs/rest.md).
 *
 * # The uWS way
 * The request object is only valid during the synchronous handler, so everything a route
 * reads (parameters, query, headers) is copied into a `Request` first. `onAborted` is
 * registered before the first await; once the client is gone nothing is written, and the
 * route's `signal` fires so that waits (long-poll) are released at once. Each answer is
 * written inside `cork`, in one piece.
 *
 * # Errors
 * A route throws `HttpError` for every answer that is not a success; the wrapper writes
 * `{"error":{"code","message"}}` with its status. Anything else is a bug: logged with code
 * `HttpFailed`, answered 500 `internal`, never with its message.
 *
 * # CORS
 * Exact origins from CORS_ORIGINS: a listed `Origin` gets `Access-Control-Allow-Origin` set
 * to itself; any other gets no CORS header at all. Every answer carries `Vary: Origin`, so a
 * shared cache never hands one origin's answer to another.
 */
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { LogCode } from '../domain/codes.js';
import type { HttpResponse, TemplatedApp } from '../gateway/uws.js';

/** Longest query string accepted; longer ones are answered 414 without being parsed. */
export const MAX_QUERY_BYTES = 4_096;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  204: '204 No Content',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  410: '410 Gone',
  413: '413 Content Too Large',
  414: '414 URI Too Long',
  422: '422 Unprocessable Content',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What a route sees of a request: copied out of uWS before any await. */
export interface Request {
  method: string;
  url: string;
  query: string;
  params: string[];
  header(name: 'authorization' | 'origin' | 'if-none-match'): string | undefined;
  /** Aborted when the client goes away before the answer. */
  signal: AbortSignal;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Text or bytes; undefined for an empty body. */
  body?: string | Uint8Array;
  contentType?: string;
}

export type Handler = (req: Request) => Promise<Reply> | Reply;

export interface RouterOptions {
  corsOrigins: readonly string[];
  log: Logger;
  metrics: Metrics;
}

const JSON_TYPE = 'application/json';

/** A request as copied out of uWS; its AbortSignal is only made for a route that asks. */
class Incoming implements Request {
  readonly method = 'GET';
  aborted = false;
  private controller: AbortController | undefined;

  constructor(
    readonly url: string,
    readonly query: string,
    readonly params: string[],
    private readonly authorization: string,
    private readonly origin: string,
    private readonly ifNoneMatch: string,
  ) {}

  header(name: 'authorization' | 'origin' | 'if-none-match'): string | undefined {
    const value = name === 'authorization' ? this.authorization : name === 'origin' ? this.origin : this.ifNoneMatch;
    return value === '' ? undefined : value;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}

export class Router {
  private readonly allowAny: boolean;
  private readonly counters = new Map<string, { inc(): void }>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly options: RouterOptions,
  ) {
    this.allowAny = options.corsOrigins.includes('*');
  }

  /** A GET route (HEAD is not offered); `name` labels its metrics. */
  get(pattern: string, name: string, paramCount: number, handler: Handler): void {
    this.app.get(pattern, (res, req) => {
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
      const request = new Incoming(req.getUrl(), req.getQuery() ?? '', params, req.getHeader('authorization'), req.getHeader('origin'), req.getHeader('if-none-match'));
      res.onAborted(() => request.abort());
      this.run(res, request, name, handler);
    });
    // Preflight for the same path.
    this.app.options(pattern, (res, req) => this.preflight(res, req.getHeader('origin')));
  }

  private run(res: HttpResponse, req: Incoming, name: string, handler: Handler): void {
    let pending: Promise<Reply> | Reply;
    try {
      if (req.query.length > MAX_QUERY_BYTES) throw new HttpError(414, 'query_too_long', `the query string is longer than ${MAX_QUERY_BYTES} bytes`);
      pending = handler(req);
    } catch (err) {
      pending = Promise.reject(err);
    }
    Promise.resolve(pending).then(
      (reply) => this.write(res, req, name, reply),
      (err: unknown) => this.write(res, req, name, this.errorReply(err, req, name)),
    );
  }

  private errorReply(err: unknown, req: Request, name: string): Reply {
    if (err instanceof HttpError) {
      const error: Record<string, unknown> = { code: err.code, message: err.message };
      if (err.details !== undefined) error.details = err.details;
      return { status: err.status, headers: err.headers, body: JSON.stringify({ error }) };
    }
    this.options.log.error({ code: LogCode.HttpFailed, err, route: name, url: req.url }, 'request failed');
    return { status: 500, body: JSON.stringify({ error: { code: 'internal', message: 'internal error' } }) };
  }

  private write(res: HttpResponse, req: Incoming, name: string, reply: Reply): void {
    if (req.aborted) return;
    const status = reply.status ?? 200;
    this.count(name, status);
    res.cork(() => {
      res.writeStatus(STATUS_TEXT[status] ?? `${status} Unknown`);
      this.corsHeaders(res, req.header('origin'));
      if (reply.body !== undefined) res.writeHeader('content-type', reply.contentType ?? JSON_TYPE);
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
      res.end(reply.body ?? '');
    });
  }

  /** prom-client hashes labels on every `inc`; the children are looked up once. */
  private count(route: string, status: number): void {
    const key = `${route} ${status}`;
    let child = this.counters.get(key);
    if (!child) this.counters.set(key, (child = this.options.metrics.httpRequests.labels({ route, status: String(status) })));
    child.inc();
  }

  private corsHeaders(res: HttpResponse, origin: string | undefined): void {
    res.writeHeader('vary', 'Origin');
    if (origin && (this.allowAny || this.options.corsOrigins.includes(origin))) {
      res.writeHeader('access-control-allow-origin', origin);
      res.writeHeader('access-control-expose-headers', 'ETag');
    }
  }

  private preflight(res: HttpResponse, origin: string): void {
    const allowed = origin !== '' && (this.allowAny || this.options.corsOrigins.includes(origin));
    this.count('preflight', allowed ? 204 : 403);
    res.cork(() => {
      if (!allowed) {
        res.writeStatus(STATUS_TEXT[403]!).writeHeader('vary', 'Origin').writeHeader('content-type', JSON_TYPE);
        res.end(JSON.stringify({ error: { code: 'origin', message: 'origin not allowed' } }));
        return;
      }
      res.writeStatus(STATUS_TEXT[204]!);
      this.corsHeaders(res, origin);
      res.writeHeader('access-control-allow-methods', 'GET, OPTIONS');
      res.writeHeader('access-control-allow-headers', 'authorization, if-none-match');
      res.writeHeader('access-control-max-age', '600');
      res.endWithoutBody();
    });
  }
}

/** Parses a query string into a plain object; a repeated parameter is an error. */
export function parseQuery(query: string, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    if (!allowed.includes(k)) throw new HttpError(400, 'unknown_parameter', `unknown query parameter "${k.slice(0, 40)}" (allowed: ${allowed.join(', ') || 'none'})`);
    if (k in out) throw new HttpError(400, 'invalid_query', `query parameter "${k}" given twice`);
    out[k] = v;
  }
  return out;
}

/** The message of a zod error, one `path: message` per issue, bounded. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(query)'}: ${i.message}`)
    .join('; ');
}
