/**
 * The one error answer of every HTTP route (CONTRACT section 6): `{"error":{"code","message"}}`
 * with a code of the HttpErrorCode vocabulary (domain/codes.ts), and `details` where a
 * client can act on them (the failing rows of an export).
 */
import type { HttpErrorCode, RefusalReason } from '../domain/codes.js';

/** An answer that is not a success. A route throws it; the router writes it. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The JSON body of an error answer (a route's, or a refused WebSocket upgrade's). */
export function errorBody(code: HttpErrorCode | RefusalReason, message: string, details?: unknown): string {
  return JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) } });
}
