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
 * that received it, with no promise at all (`TokenVerifier.verifyNow`).
 *
 * # Garbage (issue 15)
 * What a handshake allocates is what grows V8's young generation in a storm (bench/README.md,
 * "what grows the young generation"), so a token the usual way round allocates only what it
 * must: the HMAC object and its digest, the payload's bytes, text and object. The header is
 * decoded by jose once per distinct header segment: a segment seen on a token that verified
 * is remembered (an issuer writes the same header on every token; at most
 * `KNOWN_HEADERS`, and only verified ones, so a flood of made-up headers cannot fill it).
 * The claims are checked here when they pass; the first check that fails hands the payload
 * to jose's own claim validation, which throws jose's error in jose's order.
 *
 * # Why this is no weaker than jose
 * The signing input is the token's first two segments as they are (ASCII, as jose encodes
 * them); the signature is accepted only when it is, character for character, the base64url
 * of the HMAC this secret gives (compared in constant time). A signature that does not match
 * is not refused here: jose decides it (a non-canonical encoding of the right bytes, which
 * jose's decoder accepts, verifies there; anything else is refused there as before). So this
 * path accepts a token only where jose accepts it. Once the signature verifies, the payload
 * is decoded as jose decodes it (base64url, strict UTF-8 with a byte-order mark skipped, a
 * top-level JSON object) and its claims checked as `jwtVerify` checks them with the same
 * options (required claims present, issuer, audience, `iat` a number, `nbf` and `exp` against
 * the clock with its tolerance); options this file does not implement leave the token to
 * jose. Whatever fails goes through jose's `UnsecuredJWT.decode` on the same payload segment
 * with the same options (its header is `{"alg":"none"}`, which it requires): expiry, `nbf`,
 * issuer, audience and required claims are refused by jose's code with jose's errors. One
 * error differs in name only: a payload segment that is not base64url is `JWTInvalid` here
 * and `JWSInvalid` in `jwtVerify`, both refused as `malformed`.
 * test/gateway/auth-hmac.test.ts checks that both paths give the same principal or the same
 * refusal reason for a corpus of well-formed, hostile and edge-case tokens.
 */
import { createHmac, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, UnsecuredJWT, type JWTPayload, type JWTVerifyOptions } from 'jose';

/** Three base64url segments, the third of 43 characters (32 bytes, unpadded). */
const COMPACT_HS256 = /^[\w-]+\.[\w-]+\.[\w-]{43}$/;
/** The header `UnsecuredJWT.decode` needs, base64url: `{"alg":"none"}`. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');
/** Header segments remembered as acceptable (see the module comment). */
const KNOWN_HEADERS = 32;
/** jose's decoder for the claims set: fatal on bad UTF-8, a leading byte-order mark skipped. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The options this path implements, read once. */
interface Checks {
  required: readonly string[];
  issuers: readonly unknown[] | undefined;
  audiences: readonly unknown[] | undefined;
  tolerance: number;
}

/** HS256 verification in the calling tick for one secret and one set of `jwtVerify` options. */
export class InProcessHs256 {
  /** undefined: the options ask for something this path does not implement; jose decides every token. */
  private readonly checks: Checks | undefined;
  private readonly knownHeaders = new Set<string>();

  constructor(
    private readonly secret: KeyObject,
    private readonly options: JWTVerifyOptions,
  ) {
    this.checks = checksOf(options);
  }

  /**
   * The payload of `token` when its HS256 signature verifies and its claims pass (jose's
   * claim errors thrown otherwise); undefined when this path does not decide the token and
   * jose must (other algorithms and shapes, a signature that does not match, options it does
   * not implement).
   */
  verify(token: string): JWTPayload | undefined {
    const checks = this.checks;
    if (checks === undefined || !COMPACT_HS256.test(token)) return undefined;
    const first = token.indexOf('.');
    const last = token.lastIndexOf('.');
    const header = token.slice(0, first);
    const known = this.knownHeaders.has(header);
    if (!known && !acceptableHeader(token)) return undefined;
    const mac = createHmac('sha256', this.secret).update(token.slice(0, last)).digest('base64url');
    if (!sameChars(mac, token, last + 1)) return undefined;
    if (!known && this.knownHeaders.size < KNOWN_HEADERS) this.knownHeaders.add(header);
    const segment = token.slice(first + 1, last);
    const payload = decodePayload(segment);
    if (payload !== undefined && passes(payload, checks)) return payload;
    // jose refuses it with its own error (or accepts it, should this file be stricter).
    return UnsecuredJWT.decode(`${NONE_HEADER}.${segment}.`, this.options).payload;
  }
}

/** The options as checks, or undefined when they ask for something not implemented here. */
function checksOf(options: JWTVerifyOptions): Checks | undefined {
  // An algorithm list without HS256 (jose would refuse), a required `typ` (the stand-in
  // header has none), and the options not implemented below.
  if (!options.algorithms?.includes('HS256') || options.typ !== undefined) return undefined;
  if (options.subject !== undefined || options.maxTokenAge !== undefined || options.currentDate !== undefined) return undefined;
  const tolerance = options.clockTolerance ?? 0;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) return undefined;
  const { issuer, audience } = options;
  const required = [...(options.requiredClaims ?? []), ...(audience !== undefined ? ['aud'] : []), ...(issuer !== undefined ? ['iss'] : [])];
  return {
    required,
    issuers: issuer === undefined ? undefined : Array.isArray(issuer) ? issuer : [issuer],
    audiences: audience === undefined ? undefined : Array.isArray(audience) ? audience : [audience],
    tolerance,
  };
}

/** The header as jose reads it: HS256, neither `crit` nor `b64`. */
function acceptableHeader(token: string): boolean {
  try {
    const header = decodeProtectedHeader(token);
    return header.alg === 'HS256' && !('crit' in header) && !('b64' in header);
  } catch {
    return false;
  }
}

/** `a` equals `b` from `at` on, to `a`'s length, in time that depends only on the length. */
function sameChars(a: string, b: string, at: number): boolean {
  if (b.length - at !== a.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(at + i);
  return diff === 0;
}

/** The claims set as jose decodes it, or undefined where jose would refuse it. */
function decodePayload(segment: string): JWTPayload | undefined {
  // A base64url segment of 4n+1 characters cannot be decoded (Buffer would drop the last).
  if (segment.length % 4 === 1) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    return undefined;
  }
  return isPlainObject(parsed) ? (parsed as JWTPayload) : undefined;
}

/** jose's test for a claims set: an object whose prototype is Object's or none. */
function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/** Whether `jwtVerify` would accept these claims with the options `checks` was made from. */
function passes(claims: JWTPayload, checks: Checks): boolean {
  for (const claim of checks.required) if (!Object.hasOwn(claims, claim)) return false;
  if (checks.issuers !== undefined && !checks.issuers.includes(claims.iss)) return false;
  if (checks.audiences !== undefined && !audienceMatches(claims.aud, checks.audiences)) return false;
  const now = Math.floor(Date.now() / 1000);
  const { iat, nbf, exp } = claims;
  if (iat !== undefined && typeof iat !== 'number') return false;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + checks.tolerance)) return false;
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now - checks.tolerance)) return false;
  return true;
}

function audienceMatches(aud: unknown, accepted: readonly unknown[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && accepted.some((a) => aud.includes(a));
}
