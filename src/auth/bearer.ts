/**
 * Where a token travels: the `Authorization: Bearer` header (every client that can set
 * headers) and the WebSocket subprotocols `navimpact.v1, bearer.<jwt>` (browsers, which
 * cannot set headers on a WebSocket).
 */
import { BEARER_PREFIX, SUBPROTOCOL } from '../domain/frames.js';

/** The token of an `Authorization: Bearer <jwt>` header (scheme case-insensitive, RFC 7235). */
export function parseBearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/**
 * Reads `Sec-WebSocket-Protocol: navimpact.v1, bearer.<jwt>` (the browser route, which cannot
 * set headers). `offered` says whether `navimpact.v1` was among the subprotocols, so the
 * server can answer with it; `token` is the first `bearer.` entry, when not empty.
 */
export function tokenFromSubprotocols(header: string | undefined): { token?: string; offered: boolean } {
  if (!header) return { offered: false };
  let offered = false;
  let token: string | undefined;
  for (const raw of header.split(',')) {
    const protocol = raw.trim();
    if (protocol === SUBPROTOCOL) offered = true;
    else if (token === undefined && protocol.startsWith(BEARER_PREFIX) && protocol.length > BEARER_PREFIX.length) {
      token = protocol.slice(BEARER_PREFIX.length);
    }
  }
  return token === undefined ? { offered } : { token, offered };
}
