/**
 * Origins (CONTRACT sections 5 and 6): exact origins from CORS_ORIGINS, for REST's CORS
 * headers and for the WebSocket upgrade's `Origin` check.
 *
 * A listed `Origin` gets `Access-Control-Allow-Origin` set to itself; any other gets no CORS
 * header at all. Every answer carries `Vary: Origin`, so a shared cache never hands one
 * origin's answer to another.
 */
import { HttpErrorCode } from '../domain/codes.js';
import { errorBody } from './errors.js';
import { statusLine } from './status.js';
import type { HttpResponse } from './uws.js';

/**
 * Whether a request's `Origin` may connect: an exact entry of CORS_ORIGINS, or any origin
 * when the list holds `*` (refused by the configuration in production). A request without
 * an Origin (undefined, or empty as uWebSockets.js reports a missing header) comes from a
 * non-browser client, which Origin checks do not concern, and is allowed.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || origin === '') return true;
  return allowed.includes(origin) || allowed.includes('*');
}

export class Cors {
  private readonly allowAny: boolean;

  constructor(private readonly origins: readonly string[]) {
    this.allowAny = origins.includes('*');
  }

  /** Whether a browser on `origin` may read the answer (a request without Origin is not a CORS request). */
  private listed(origin: string | undefined): boolean {
    return origin !== undefined && origin !== '' && (this.allowAny || this.origins.includes(origin));
  }

  /** Writes `Vary: Origin`, and the CORS headers when `origin` is listed. */
  headers(res: HttpResponse, origin: string | undefined): void {
    res.writeHeader('vary', 'Origin');
    if (this.listed(origin)) {
      res.writeHeader('access-control-allow-origin', origin!);
      res.writeHeader('access-control-expose-headers', 'ETag');
    }
  }

  /** Answers an OPTIONS preflight: 204 with the allowed methods and headers, or 403. Returns the status. */
  preflight(res: HttpResponse, origin: string): 204 | 403 {
    const allowed = this.listed(origin);
    res.cork(() => {
      if (!allowed) {
        res.writeStatus(statusLine(403)).writeHeader('vary', 'Origin').writeHeader('content-type', 'application/json');
        res.end(errorBody(HttpErrorCode.Origin, 'origin not allowed'));
        return;
      }
      res.writeStatus(statusLine(204));
      this.headers(res, origin);
      res.writeHeader('access-control-allow-methods', 'GET, OPTIONS');
      res.writeHeader('access-control-allow-headers', 'authorization, if-none-match');
      res.writeHeader('access-control-max-age', '600');
      res.endWithoutBody();
    });
    return allowed ? 204 : 403;
  }
}
