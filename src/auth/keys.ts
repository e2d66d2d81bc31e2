/**
 * Keys and the algorithms they were made for (CONTRACT section 2: the algorithm is pinned by
 * the key type). Used by the verifier for JWT_PUBLIC_KEY and by `npm run token` for
 * JWT_PRIVATE_KEY, so both sides agree on which algorithm a key signs.
 */
import type { KeyObject } from 'node:crypto';

export type AsymmetricAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

/**
 * The one JWS algorithm a public or private key was made for. Throws for any other key
 * type (P-384, Ed448, RSA-PSS, DSA, ...) and for RSA keys under 2048 bits.
 */
export function algorithmForKey(key: KeyObject): AsymmetricAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    throw new Error(`EC keys must use curve P-256 (ES256); got ${curve ?? 'an unknown curve'}`);
  }
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new Error(`RSA keys must have at least 2048 bits (RS256); got ${bits}`);
    return 'RS256';
  }
  throw new Error(`unsupported key type ${type ?? 'unknown'} (use P-256 for ES256, Ed25519 for EdDSA or RSA for RS256)`);
}

/** PEM text as it often arrives through an environment variable, with `\n` written out. */
export function normalizePem(pem: string): string {
  return pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem;
}
