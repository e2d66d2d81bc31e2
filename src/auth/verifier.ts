/**
 * Token verification (CONTRACT section 2): who may open `/v1/live`, call the REST routes and
 * read `/metrics`, and why a token was refused. One verifier per process, shared by every
 * route that needs a principal.
 *
 * # Algorithm pinning
 * Each configured key accepts exactly the algorithm it was made for: `JWT_SECRET` only
 * HS256; `JWT_PUBLIC_KEY` only the algorithm of its key type (P-256 -> ES256, Ed25519 ->
 * EdDSA, RSA -> RS256); `JWKS_URL` ES256, EdDSA and RS256, each key by its own type. The
 * token's header `alg` picks the key; an `alg` no configured key was made for (`none`, an
 * HS token when only a public key is configured, RS256 against a P-256 key, ...) is refused
 * as `algorithm` before any signature is checked. This is what defeats key confusion: a
 * public key is never used as an HMAC secret, because it is never tried for HS256.
 *
 * # Cost
 * Keys are imported once, at creation (the HS256 secret too: jose would import raw bytes on
 * every call); `verify` runs on every WebSocket upgrade and does one header decode, one
 * signature check and one claims parse. An HS256 token of the usual shape is checked in the
 * calling tick by node:crypto (auth/hmac.ts: no thread-pool round trip, a third of the CPU,
 * no promise: `verifyNow`), its claims as jose checks them; jose verifies the rest. JWKS
 * keys are cached by jose for 10 minutes; an unknown `kid` triggers a refetch at most once
 * per cooldown (30 s), so a flood of tokens with made-up `kid`s costs the JWKS endpoint at
 * most one request per cooldown.
 */
import { createPublicKey, createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, errors, importSPKI, jwtVerify, type CryptoKey, type JWTVerifyGetKey, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose';
import type { AuthFailure } from '../domain/codes.js';
import { TokenClaims, type Principal } from '../domain/token.js';
import { InProcessHs256 } from './hmac.js';
import { algorithmForKey, normalizePem, type AsymmetricAlgorithm } from './keys.js';

const MESSAGES: Readonly<Record<AuthFailure, string>> = {
  missing: 'no token',
  malformed: 'token is not a well-formed JWT',
  expired: 'token expired',
  signature: 'token signature does not verify',
  algorithm: 'token algorithm not allowed for the configured keys',
  claims: 'token claims invalid (sub and exp required; role viewer, monitor or admin)',
  issuer: 'token issuer not accepted',
  audience: 'token audience not accepted',
  unknown_key: 'token signed by an unknown key',
  lifetime: 'token lifetime exceeds JWT_MAX_TTL (exp - iat, or exp - now)',
};

/** A refused token. `message` is short and safe to send to the client; `cause` is jose's error. */
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    readonly reason: AuthFailure,
    options?: { cause?: unknown },
  ) {
    super(MESSAGES[reason], options);
  }
}

export interface TokenVerifier {
  /** Resolves with the token's principal, or rejects with a TokenError (never anything else). */
  verify(token: string): Promise<Principal>;
  /**
   * The token's principal decided in the calling tick, with no promise (a usual HS256 token:
   * auth/hmac.ts); throws a TokenError when refused there; undefined when only `verify` can
   * decide it. What it decides, `verify` decides the same.
   */
  verifyNow(token: string): Principal | undefined;
}

export interface TokenVerifierOptions {
  /** HS256 secret (JWT_SECRET), at least 32 bytes. */
  secret?: string;
  /** PEM SPKI public key (JWT_PUBLIC_KEY): P-256, Ed25519 or RSA (2048 bits or more). */
  publicKey?: string;
  /** JWKS endpoint (JWKS_URL). */
  jwksUrl?: string;
  /** Required `iss` (JWT_ISSUER). */
  issuer?: string;
  /** Required `aud` (JWT_AUDIENCE). */
  audience?: string;
  /**
   * Longest token lifetime accepted (JWT_MAX_TTL), in milliseconds: `exp - iat`, and
   * `exp - now` (which also bounds a token without `iat`, or with an `iat` in the future).
   * Default 24 h (CONTRACT v1.1 section 2).
   */
  maxLifetimeMs?: number;
  /** Leeway for `exp` and `nbf`, in seconds. Default 0: the gateway closes at `exp` exactly. */
  clockToleranceSec?: number;
  /** Least time between two JWKS refetches caused by an unknown `kid`. Default 30 s. */
  jwksCooldownMs?: number;
  /** Age after which cached JWKS keys are refetched. Default 10 min. */
  jwksCacheMaxAgeMs?: number;
}

const JWKS_ALGORITHMS: readonly AsymmetricAlgorithm[] = ['ES256', 'EdDSA', 'RS256'];
/** Least time between two JWKS refetches caused by an unknown `kid`. */
const JWKS_COOLDOWN_MS = 30_000;
/** Age after which cached JWKS keys are refetched. */
const JWKS_CACHE_MAX_AGE_MS = 600_000;
/** Deadline of one JWKS fetch. */
const JWKS_TIMEOUT_MS = 5_000;
/** Longest token lifetime accepted unless the caller names another (JWT_MAX_TTL's default). */
const MAX_LIFETIME_MS = 24 * 3_600_000;
/** Longest token accepted; the in-band `auth` frame has the same bound. */
const MAX_TOKEN_LENGTH = 8_192;

/** A key that may verify a token, tried in order for one header `alg`. */
interface Candidate {
  source: 'secret' | 'publicKey' | 'jwks';
  key: CryptoKey | JWTVerifyGetKey;
}

/**
 * Builds a verifier for the configured keys. Throws (at start-up, with a message naming the
 * variable) when a key cannot be used; at least one of secret, publicKey and jwksUrl is needed.
 */
export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const byAlg = new Map<string, Candidate[]>();
  const add = (alg: string, candidate: Candidate) => byAlg.set(alg, [...(byAlg.get(alg) ?? []), candidate]);

  let secretBytes: Uint8Array<ArrayBuffer> | undefined;
  if (options.secret !== undefined) {
    secretBytes = new TextEncoder().encode(options.secret);
    if (secretBytes.byteLength < 32) throw new Error('JWT_SECRET must be at least 32 bytes');
    // Imported once: given the bytes, jose imports them anew on every verification.
    const key = await crypto.subtle.importKey('raw', secretBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    add('HS256', { source: 'secret', key });
  }
  if (options.publicKey !== undefined) {
    const pem = normalizePem(options.publicKey);
    let alg: AsymmetricAlgorithm;
    let key: CryptoKey;
    try {
      alg = algorithmForKey(createPublicKey({ key: pem, format: 'pem' }));
      key = await importSPKI(pem, alg);
    } catch (err) {
      throw new Error(`JWT_PUBLIC_KEY: ${(err as Error).message}`, { cause: err });
    }
    add(alg, { source: 'publicKey', key });
  }
  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch (err) {
      throw new Error('JWKS_URL must be an http(s) URL', { cause: err });
    }
    // jose caches the set, refetches it when older than cacheMaxAge, and on an unknown kid
    // refetches only when the last fetch is older than cooldownDuration: the bounded refresh.
    const jwks = createRemoteJWKSet(url, {
      cooldownDuration: options.jwksCooldownMs ?? JWKS_COOLDOWN_MS,
      cacheMaxAge: options.jwksCacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
    for (const alg of JWKS_ALGORITHMS) add(alg, { source: 'jwks', key: jwks });
  }
  if (byAlg.size === 0) throw new Error('token verification needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL');

  const base: JWTVerifyOptions = {
    requiredClaims: ['sub', 'exp'],
    clockTolerance: options.clockToleranceSec ?? 0,
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    ...(options.audience !== undefined && { audience: options.audience }),
  };
  // One options object per algorithm, built once: each verification allows only its own alg.
  const maxLifetimeSec = (options.maxLifetimeMs ?? MAX_LIFETIME_MS) / 1000;
  const verifyOptions = new Map<string, JWTVerifyOptions>([...byAlg.keys()].map((alg) => [alg, { ...base, algorithms: [alg] }]));
  // The secret is the only HS256 key (a public key or a JWKS never is), so what the
  // in-process path decides is what the loop below would decide with that one candidate.
  const inProcess = secretBytes && new InProcessHs256(createSecretKey(secretBytes), verifyOptions.get('HS256')!);

  const verifyNow = (token: string): Principal | undefined => {
    if (!inProcess || !token || token.length > MAX_TOKEN_LENGTH) return undefined;
    let payload: unknown;
    try {
      payload = inProcess.verify(token);
    } catch (err) {
      throw toTokenError(err, 'secret');
    }
    return payload === undefined ? undefined : toPrincipal(payload, maxLifetimeSec);
  };

  return {
    verifyNow,
    async verify(token) {
      const decided = verifyNow(token);
      if (decided) return decided;
      if (!token) throw new TokenError('missing');
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed');
      let header: ProtectedHeaderParameters;
      try {
        header = decodeProtectedHeader(token);
      } catch (err) {
        throw new TokenError('malformed', { cause: err });
      }
      const alg = header.alg;
      if (typeof alg !== 'string') throw new TokenError('malformed');
      const candidates = byAlg.get(alg);
      const opts = verifyOptions.get(alg);
      if (!candidates || !opts) throw new TokenError('algorithm');

      let failure: TokenError | undefined;
      for (const candidate of candidates) {
        try {
          return toPrincipal(await verifyWith(token, candidate, opts), maxLifetimeSec);
        } catch (err) {
          failure = err instanceof TokenError ? err : toTokenError(err, candidate.source);
          // Only a signature that does not verify under this key lets the next key try
          // (JWT_PUBLIC_KEY, then JWKS_URL); an expired or mis-addressed token is refused.
          if (failure.reason !== 'signature') break;
        }
      }
      throw failure ?? new TokenError('algorithm');
    },
  };
}

async function verifyWith(token: string, candidate: Candidate, options: JWTVerifyOptions): Promise<unknown> {
  if (typeof candidate.key !== 'function') return (await jwtVerify(token, candidate.key, options)).payload;
  try {
    return (await jwtVerify(token, candidate.key, options)).payload;
  } catch (err) {
    // Several JWKS keys fit a token without a `kid` (or sharing one): jose hands them over
    // as an async iterator on the error; the first that verifies wins.
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    let last: unknown = err;
    for await (const key of err as errors.JWKSMultipleMatchingKeys & AsyncIterable<CryptoKey>) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        last = inner;
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }
}

function toPrincipal(payload: unknown, maxLifetimeSec: number): Principal {
  const claims = TokenClaims.safeParse(payload);
  if (!claims.success) throw new TokenError('claims', { cause: claims.error });
  // A signed, unexpired token may still live too long: a leaked one would stay usable. Both
  // bounds apply, so an `iat` set just before `exp` does not stretch a token's life.
  const iat = (payload as { iat?: unknown }).iat;
  const issued = typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined;
  const now = Date.now() / 1000;
  if (claims.data.exp - now > maxLifetimeSec || (issued !== undefined && claims.data.exp - issued > maxLifetimeSec)) {
    throw new TokenError('lifetime');
  }
  return { sub: claims.data.sub, role: claims.data.role, expiresAt: claims.data.exp * 1000 };
}

/**
 * jose's errors as refusal reasons. Claim failures carry the claim: `iss` and `aud` (wrong
 * or absent when required) are `issuer` / `audience`; any other (`sub` or `exp` absent, `exp`
 * not a number, `nbf` in the future) is `claims`. A JWKS that cannot be fetched or parsed
 * leaves the key unknown. Anything unforeseen refuses the token as `malformed`, keeping its
 * cause for the log: verification fails closed.
 */
export function toTokenError(err: unknown, source: Candidate['source']): TokenError {
  const reason = reasonOf(err, source);
  return new TokenError(reason, { cause: err });
}

function reasonOf(err: unknown, source: Candidate['source']): AuthFailure {
  if (err instanceof errors.JOSEError) {
    switch (err.code) {
      case 'ERR_JWT_EXPIRED':
        return 'expired';
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
        const claim = (err as errors.JWTClaimValidationFailed).claim;
        return claim === 'iss' ? 'issuer' : claim === 'aud' ? 'audience' : 'claims';
      }
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return 'signature';
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
      case 'ERR_JOSE_NOT_SUPPORTED':
        return 'algorithm';
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        return 'unknown_key';
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        return 'malformed';
      default:
        break;
    }
  }
  // JWKS_URL unreachable, timed out, not 200, not a key set: no key to verify with.
  if (source === 'jwks') return 'unknown_key';
  return 'malformed';
}
