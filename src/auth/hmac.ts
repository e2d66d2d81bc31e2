/**
 * HS256 tokens checked in the calling tick, for the shape every issuer writes: a compact
 * JWT of base64url segments whose header has neither `crit` nor `b64`, with a signature in
 * its one canonical encoding. jose verifies everything else (and every other algorithm).
 *
 * # Why
 * jose verifies through WebCrypto, whose HMAC runs as a job on libuv's thread pool: each
 * verification crosses threads and back, and its promises, buffers and the handshake
 * waiting on it outlive the tick. In a reconnect storm thousands wait at once; their objects
 * survive V8's young-generation collections, which is what makes V8 grow that generation
 * (bench/README.md, memory per connection). node:crypto's HMAC runs in the calling thread:
 * 20,000 distinct tokens, 250 at a time, cost 14-19 µs of CPU each against jose's 43-46
 * (`npm run bench:auth`; bench/README.md, "auth"), and the upgrade completes in the tick
 * that received it.
 *
 * # Why this is no weaker than jose
 * The signing input is the token's first two segments as they are (ASCII, as jose encodes
 * them); the signature is accepted only when it is, character for character, the base64url
 * of the HMAC this secret gives (compared in constant time). A signature that does not match
 * is not refused here: jose decides it (a non-canonical encoding of the right bytes, which
 * jose's decoder accepts, verifies there; anything else is refused there as before). So this
 * path accepts a token only where jose accepts it. Once the signature verifies, the claims
 * go through jose's own claim validation, `UnsecuredJWT.decode` on the same payload segment
 * with the same options (its header is `{"alg":"none"}`, which it requires; the real header
 * has no `typ` requirement to meet here): expiry, `nbf`, issuer, audience, required claims
 * and clock tolerance are jose's code and jose's errors, in jose's order (signature first).
 * One error differs in name only: a payload segment that is not base64url is `JWTInvalid`
 * here and `JWSInvalid` in `jwtVerify`, both refused as `malformed`.
 * test/gateway/auth-hmac.test.ts checks that both paths give the same principal or the same
 * refusal reason for a corpus of well-formed, hostile and edge-case tokens.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { UnsecuredJWT, type JWTPayload, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose';

/** Three base64url segments, the third of 43 characters (32 bytes, unpadded). */
const COMPACT_HS256 = /^[\w-]+\.[\w-]+\.[\w-]{43}$/;
/** The header `UnsecuredJWT.decode` needs, base64url: `{"alg":"none"}`. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/**
 * The payload of `token` when its HS256 signature under `secret` verifies and its claims pass
 * `options` (jose's claim errors thrown otherwise); undefined when this path does not decide
 * the token and jose must (other shapes, other encodings, a signature that does not match,
 * options it does not implement). `header` must be `decodeProtectedHeader(token)`.
 */
export function verifyHs256InProcess(token: string, header: ProtectedHeaderParameters, secret: KeyObject, options: JWTVerifyOptions): JWTPayload | undefined {
  // Options this path does not implement leave the token to jose: an algorithm list without
  // HS256 (jose would refuse), a required `typ` (the stand-in header below has none).
  if (!options.algorithms?.includes('HS256') || options.typ !== undefined) return undefined;
  if (header.alg !== 'HS256' || 'crit' in header || 'b64' in header || !COMPACT_HS256.test(token)) return undefined;
  const dot = token.lastIndexOf('.');
  const expected = createHmac('sha256', secret).update(token.slice(0, dot)).digest('base64url');
  if (!timingSafeEqual(Buffer.from(token.slice(dot + 1), 'latin1'), Buffer.from(expected, 'latin1'))) return undefined;
  const payload = token.slice(token.indexOf('.') + 1, dot);
  return UnsecuredJWT.decode(`${NONE_HEADER}.${payload}.`, options).payload;
}
