/**
 * Bearer tokens on HTTP routes (REST, `/metrics`): the same verifier as the WebSocket
 * upgrade, with answers in the HTTP error vocabulary (401 naming the AuthFailure, 403).
 *
 * A verified token is remembered until it expires (at most `capacity` tokens, oldest
 * forgotten first), so a client polling with one token pays for one signature check, not
 * one per request. A token is only remembered after it verified; a refused one is checked
 * again each time. When keys rotate, a remembered token stays valid until its own `exp`,
 * as it would on an open WebSocket.
 */
import { HttpErrorCode, type AuthFailure } from '../domain/codes.js';
import { canReadMetrics, type Principal } from '../domain/token.js';
import { HttpError } from '../http/errors.js';
import type { Request } from '../http/request.js';
import { parseBearer } from './bearer.js';
import { TokenError, type TokenVerifier } from './verifier.js';

/** Verified tokens remembered per process (oldest forgotten first). */
const REMEMBERED_TOKENS = 10_000;

export class RequestAuth {
  private readonly verified = new Map<string, Principal>();

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly onRefused: (reason: AuthFailure) => void,
    private readonly capacity = REMEMBERED_TOKENS,
  ) {}

  /**
   * The principal of a token this process verified and that has not expired, at once;
   * undefined otherwise (then `principal` verifies it). The REST hot path answers a cached
   * grant without waiting for anything.
   */
  remembered(req: Request): Principal | undefined {
    const token = parseBearer(req.header('authorization'));
    return token === undefined ? undefined : this.known(token);
  }

  /** A verified token's principal while it has not expired; an expired one is forgotten. */
  private known(token: string): Principal | undefined {
    const known = this.verified.get(token);
    if (known && known.expiresAt > Date.now()) return known;
    if (known) this.verified.delete(token);
    return undefined;
  }

  /** The request's principal, or a 401 HttpError naming why. */
  async principal(req: Request): Promise<Principal> {
    const header = req.header('authorization');
    const token = parseBearer(header);
    if (!token) {
      this.onRefused(header ? 'malformed' : 'missing');
      throw new HttpError(401, header ? 'malformed' : 'missing', header ? 'Authorization must be "Bearer <token>"' : 'a bearer token is required', undefined, { 'www-authenticate': 'Bearer' });
    }
    const known = this.known(token);
    if (known) return known;
    try {
      const principal = await this.verifier.verify(token);
      if (this.verified.size >= this.capacity) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, principal);
      return principal;
    } catch (err) {
      const reason: AuthFailure = err instanceof TokenError ? err.reason : 'malformed';
      this.onRefused(reason);
      throw new HttpError(401, reason, err instanceof TokenError ? err.message : 'token refused', undefined, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
  }

  /** As `principal`, and 403 unless the role may read metrics (monitor, admin). */
  async monitor(req: Request): Promise<Principal> {
    const p = await this.principal(req);
    if (!canReadMetrics(p.role)) throw new HttpError(403, HttpErrorCode.Forbidden, 'this route needs a token with role monitor or admin');
    return p;
  }
}
