/**
 * Token claims of CONTRACT section 2. `sub` and `exp` are required; `role` defaults to
 * `viewer`. Signature, algorithm, issuer and audience are checked by the verifier
 * (gateway/auth) before these claims are read.
 */
import { z } from 'zod';

export const TOKEN_ROLES = ['viewer', 'monitor', 'admin'] as const;
export const TokenRole = z.enum(TOKEN_ROLES);
export type TokenRole = z.infer<typeof TokenRole>;

export const TokenClaims = z.object({
  sub: z.string().min(1).max(256),
  exp: z.number().int().positive(),
  role: TokenRole.default('viewer'),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

/** What a verified token grants a connection. */
export interface Principal {
  sub: string;
  role: TokenRole;
  /** Expiry, milliseconds since the epoch. */
  expiresAt: number;
}

export const canReadMetrics = (role: TokenRole): boolean => role === 'monitor' || role === 'admin';
