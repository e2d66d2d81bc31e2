/**
 * Where a token travels: the `Authorization: Bearer` header (every client that can set
 * headers) and the WebSocket subprotocols `navimpact.v1, bearer.<jwt>` (browsers, which
 * cannot set headers on a WebSocket).
 */
import { BEARER_PREFIX, SUBPROTOCOL } from '../domain/frames.js';

/** `Bearer <token>`, the token one run of characters that are neither white space nor commas. */
const BEARER = /^Bearer[ \t]+[^\s,]+[ \t]*$/i;
const SCHEME_LENGTH = 'Bearer'.length;
/** No subprotocols offered: one answer for every such request (an upgrade allocates as little as it can). */
const NONE_OFFERED: Offered = Object.freeze({ offered: false });

/** What the subprotocols offered: a token, and whether `navimpact.v1` was among them. */
export type Offered = Readonly<{ token?: string; offered: boolean }>;

const blank = (code: number) => code === 0x20 || code === 0x09;

/**
 * The token of an `Authorization: Bearer <jwt>` header (scheme case-insensitive, RFC 7235).
 * The shape is checked with `test` and the token cut out around the blanks the shape allows,
 * so that a header costs one string, not a match array (issue 15: a handshake's garbage).
 */
export function parseBearer(header: string | undefined): string | undefined {
  if (!header || !BEARER.test(header)) return undefined;
  let start = SCHEME_LENGTH;
  while (blank(header.charCodeAt(start))) start++;
  let end = header.length;
  while (blank(header.charCodeAt(end - 1))) end--;
  return header.slice(start, end);
}

/**
 * Reads `Sec-WebSocket-Protocol: navimpact.v1, bearer.<jwt>` (the browser route, which cannot
 * set headers). `offered` says whether `navimpact.v1` was among the subprotocols, so the
 * server can answer with it; `token` is the first `bearer.` entry, when not empty.
 */
export function tokenFromSubprotocols(header: string | undefined): Offered {
  if (!header) return NONE_OFFERED;
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
