/**
 * The WebSocket upgrade (CONTRACT section 5): Origin, token and the per-`sub` limit are
 * checked before anything is upgraded; a refusal is an HTTP answer (401, 403, 429, 503)
 * with an error body and is counted in `navimpact_ws_auth_failures_total{reason}`.
 */
import { tokenFromSubprotocols, parseBearer } from '../auth/bearer.js';
import { TokenError, type TokenVerifier } from '../auth/verifier.js';
import { RefusalReason, type AuthFailure } from '../domain/codes.js';
import { SUBPROTOCOL } from '../domain/frames.js';
import type { Principal } from '../domain/token.js';
import { originAllowed } from '../http/cors.js';
import { errorBody } from '../http/errors.js';
import { statusLine } from '../http/status.js';
import type { HttpRequest, HttpResponse, us_socket_context_t } from '../http/uws.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { Connection, expiringAt, type Held } from './connection.js';
import type { GatewayOptions } from './gateway.js';
import type { Admission } from './admission.js';
import type { Sockets } from './sockets.js';

export class Upgrades {
  constructor(
    private readonly options: GatewayOptions,
    private readonly admission: Admission,
    private readonly verifier: TokenVerifier,
    private readonly sockets: Sockets,
    private readonly metrics: Metrics,
    /** Frames a new connection may send at once (the rate limit's bucket). */
    private readonly burst: number,
    private readonly log: Logger,
  ) {}

  handle(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    if (!originAllowed(req.getHeader('origin') || undefined, this.options.CORS_ORIGINS)) return this.refuse(res, 403, RefusalReason.Origin, 'origin not allowed');
    // Before the token: in a reconnect storm, refusing is cheap and verifying is not.
    const admittedAt = Date.now();
    const admitted = this.admission.admit(admittedAt);
    if (!admitted.ok) {
      const reason = admitted.reason === 'draining' ? RefusalReason.ShuttingDown : RefusalReason.OverCapacity;
      return this.refuse(res, 503, reason, admitted.reason === 'draining' ? 'server shutting down' : 'too many connections at once; retry later', { 'retry-after': String(admitted.retryAfterSeconds) });
    }
    const protocols = req.getHeader('sec-websocket-protocol');
    const offered = tokenFromSubprotocols(protocols || undefined);
    const token = parseBearer(req.getHeader('authorization') || undefined) ?? offered.token;
    if (!token) return this.refuse(res, 401, 'missing', 'a bearer token is required');
    const protocol = offered.offered ? SUBPROTOCOL : '';
    // A usual token is decided in this tick (auth/hmac.ts): the upgrade completes inside
    // uWS's handler, with no promise, closure or abort handler (issue 15: a storm's garbage).
    let principal: Principal | undefined;
    try {
      principal = this.verifier.verifyNow(token);
    } catch (err) {
      return this.refuseToken(res, err);
    }
    if (principal) return this.accept(res, principal, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), context, admittedAt);
    // Any other token waits for jose: the request object is gone after this handler returns.
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.verifier.verify(token).then(
      (verified) => {
        if (!aborted) res.cork(() => this.accept(res, verified, key, protocol, extensions, context, admittedAt));
      },
      (err: unknown) => {
        if (!aborted) this.refuseToken(res, err);
      },
    );
  }

  /** Upgrades a verified client, unless its subject holds too many connections already. */
  private accept(res: HttpResponse, principal: Principal, key: string, protocol: string, extensions: string, context: us_socket_context_t, admittedAt: number): void {
    if (this.sockets.heldBy(principal.sub) >= this.options.GATEWAY_MAX_CONNECTIONS_PER_SUB) {
      return this.refuse(res, 429, RefusalReason.TooManyConnections, 'too many connections for this subject');
    }
    this.sockets.reserve(principal.sub);
    const now = Date.now();
    const data = new Connection({
      sub: principal.sub,
      role: principal.role,
      expiresAt: principal.expiresAt,
      expiringAt: expiringAt(now, principal.expiresAt, this.options.GATEWAY_EXPIRING_NOTICE),
      now,
      allowance: this.burst,
    });
    res.upgrade({ c: data } satisfies Held, key, protocol, extensions, context);
    // uWS has run `open` (and sent the welcome) inside upgrade. `admittedAt` is the time the
    // admission window counted, by the gateway's clock: test/gateway/storm.test.ts reads it.
    if (this.log.isLevelEnabled('debug')) this.log.debug({ session: data.session, sub: principal.sub, admittedAt }, 'connection opened');
  }

  /** 401 naming why the verifier refused the token (it throws TokenError only; anything else fails closed). */
  private refuseToken(res: HttpResponse, err: unknown): void {
    const reason: AuthFailure = err instanceof TokenError ? err.reason : 'malformed';
    this.refuse(res, 401, reason, err instanceof TokenError ? err.message : 'token refused');
  }

  private refuse(res: HttpResponse, status: 401 | 403 | 429 | 503, reason: RefusalReason, message: string, headers: Record<string, string> = {}): void {
    this.metrics.wsAuthFailures.inc({ reason });
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json');
      for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
      res.end(errorBody(reason, message));
    });
  }
}
