/**
 * Token verification with real signed tokens (jose) and, for JWKS, a real HTTP server on
 * 127.0.0.1. Every refusal reason of `AUTH_FAILURES` is produced by at least one test.
 */
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { parseBearer, tokenFromSubprotocols } from '../../src/auth/bearer.js';
import { TokenError, createTokenVerifier, type TokenVerifier } from '../../src/auth/verifier.js';
import { AUTH_FAILURES, type AuthFailure } from '../../src/domain/codes.js';
import { originAllowed } from '../../src/http/cors.js';

const SECRET = 'auth-test-secret-0123456789-abcdefghij';
const now = () => Math.floor(Date.now() / 1000);

type Alg = 'ES256' | 'EdDSA' | 'RS256';
interface Pair {
  alg: Alg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  pem: string;
}

async function pair(alg: Alg): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, publicKey, pem: await exportSPKI(publicKey) };
}

async function jwk(p: Pair, kid?: string): Promise<JWK> {
  return { ...(await exportJWK(p.publicKey)), alg: p.alg, use: 'sig', ...(kid !== undefined && { kid }) };
}

interface SignOptions {
  alg?: string;
  kid?: string;
  /** Claims to drop from the defaults (sub, exp). */
  omit?: readonly ('sub' | 'exp')[];
}

/** A token with `sub: alice` and an expiry an hour ahead, plus `claims`. */
function sign(key: CryptoKey | Uint8Array, claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const alg = options.alg ?? (key instanceof Uint8Array ? 'HS256' : 'ES256');
  const body: JWTPayload = { sub: 'alice', exp: now() + 3600, ...claims };
  for (const name of options.omit ?? []) delete body[name];
  return new SignJWT(body).setProtectedHeader({ alg, typ: 'JWT', ...(options.kid !== undefined && { kid: options.kid }) }).sign(key);
}

const hmac = (secret: string) => new TextEncoder().encode(secret);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The same text with the character at `index` replaced by another base64url character. */
function flipAt(text: string, index: number): string {
  const c = text[index];
  return text.slice(0, index) + (c === 'A' ? 'B' : 'A') + text.slice(index + 1);
}

/** The refusal reason, failing the test when the token is accepted or the error is not a TokenError. */
async function refusal(verifier: TokenVerifier, token: string): Promise<AuthFailure> {
  let principal: unknown;
  try {
    principal = await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    const reason = (err as TokenError).reason;
    expect(AUTH_FAILURES).toContain(reason);
    return reason;
  }
  throw new Error(`token was accepted: ${JSON.stringify(principal)}`);
}

let es: Pair;
let ed: Pair;
let rs: Pair;

beforeAll(async () => {
  [es, ed, rs] = await Promise.all([pair('ES256'), pair('EdDSA'), pair('RS256')]);
});

describe('auth - accepted tokens', () => {
  it('auth - a valid HS256 token gives its principal, role viewer by default, expiresAt = exp * 1000', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET });
    const exp = now() + 600;
    const principal = await verifier.verify(await sign(hmac(SECRET), { exp }));
    expect(principal).toEqual({ sub: 'alice', role: 'viewer', expiresAt: exp * 1000 });
  });

  it.each([
    ['ES256', () => es],
    ['EdDSA', () => ed],
    ['RS256', () => rs],
  ] as const)('auth - a valid %s token against its public key is accepted with its role', async (alg, key) => {
    const verifier = await createTokenVerifier({ publicKey: key().pem });
    const exp = now() + 120;
    const principal = await verifier.verify(await sign(key().privateKey, { role: 'monitor', exp, sub: `svc-${alg}` }, { alg }));
    expect(principal).toEqual({ sub: `svc-${alg}`, role: 'monitor', expiresAt: exp * 1000 });
  });

  it('auth - role admin is kept', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET });
    expect((await verifier.verify(await sign(hmac(SECRET), { role: 'admin' }))).role).toBe('admin');
  });

  it('auth - a public key with escaped newlines (as env files write it) is accepted', async () => {
    const verifier = await createTokenVerifier({ publicKey: es.pem.replace(/\n/g, '\\n') });
    expect((await verifier.verify(await sign(es.privateKey))).sub).toBe('alice');
  });

  it('auth - matching iss and aud are accepted, aud also as an array', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'navimpact' });
    await expect(verifier.verify(await sign(hmac(SECRET), { iss: 'https://id.example', aud: 'navimpact' }))).resolves.toMatchObject({ sub: 'alice' });
    await expect(verifier.verify(await sign(hmac(SECRET), { iss: 'https://id.example', aud: ['other', 'navimpact'] }))).resolves.toMatchObject({ sub: 'alice' });
  });

  it('auth - clock tolerance accepts a token expired a moment ago, none by default', async () => {
    const token = await sign(hmac(SECRET), { exp: now() - 5 });
    expect(await refusal(await createTokenVerifier({ secret: SECRET }), token)).toBe('expired');
    await expect((await createTokenVerifier({ secret: SECRET, clockToleranceSec: 30 })).verify(token)).resolves.toMatchObject({ sub: 'alice' });
  });
});

describe('auth - refused tokens', () => {
  let hs: TokenVerifier;
  let esVerifier: TokenVerifier;
  beforeAll(async () => {
    hs = await createTokenVerifier({ secret: SECRET });
    esVerifier = await createTokenVerifier({ publicKey: es.pem });
  });

  it('auth - no token is missing', async () => {
    expect(await refusal(hs, '')).toBe('missing');
  });

  it.each(['garbage', 'a.b.c', 'x.y', '...', 'eyJhbGciOiJIUzI1NiJ9', `${b64({ alg: 'HS256' })}.!!!.???`, `${b64('text')}.e30.`, 'a'.repeat(10_000)])(
    'auth - a token that is not a JWT is malformed (%#)',
    async (token) => {
      expect(await refusal(hs, token)).toBe('malformed');
    },
  );

  it('auth - a header without alg is malformed', async () => {
    const token = `${b64({ typ: 'JWT' })}.${b64({ sub: 'alice', exp: now() + 60 })}.c2ln`;
    expect(await refusal(hs, token)).toBe('malformed');
  });

  it('auth - an expired token is expired', async () => {
    expect(await refusal(hs, await sign(hmac(SECRET), { exp: now() - 60 }))).toBe('expired');
    expect(await refusal(esVerifier, await sign(es.privateKey, { exp: now() - 60 }))).toBe('expired');
  });

  it('auth - a tampered payload fails the signature', async () => {
    for (const [verifier, key] of [
      [hs, hmac(SECRET)],
      [esVerifier, es.privateKey],
    ] as const) {
      const [h, p, s] = (await sign(key)).split('.') as [string, string, string];
      expect(await refusal(verifier, [h, flipAt(p, Math.floor(p.length / 2)), s].join('.'))).toBe('signature');
      // The realistic forgery: the same token claiming a higher role.
      const forged = b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), role: 'admin' });
      expect(await refusal(verifier, [h, forged, s].join('.'))).toBe('signature');
    }
  });

  it('auth - a tampered signature fails the signature', async () => {
    for (const [verifier, key] of [
      [hs, hmac(SECRET)],
      [esVerifier, es.privateKey],
    ] as const) {
      const [h, p, s] = (await sign(key)).split('.') as [string, string, string];
      expect(await refusal(verifier, [h, p, flipAt(s, 5)].join('.'))).toBe('signature');
    }
  });

  it('auth - a token signed with another secret fails the signature', async () => {
    expect(await refusal(hs, await sign(hmac(`${SECRET}-other`)))).toBe('signature');
  });

  it('auth - alg none is refused as algorithm, signed or not, whatever its case', async () => {
    const payload = b64({ sub: 'alice', exp: now() + 600, role: 'admin' });
    for (const alg of ['none', 'None', 'NONE']) {
      for (const verifier of [hs, esVerifier]) {
        expect(await refusal(verifier, `${b64({ alg, typ: 'JWT' })}.${payload}.`)).toBe('algorithm');
        expect(await refusal(verifier, `${b64({ alg, typ: 'JWT' })}.${payload}.c2lnbmF0dXJl`)).toBe('algorithm');
      }
    }
  });

  it('auth - an HS256 token signed with the public key PEM as secret (key confusion) is refused as algorithm', async () => {
    for (const p of [es, rs, ed]) {
      const verifier = await createTokenVerifier({ publicKey: p.pem });
      const forged = await sign(hmac(p.pem), { role: 'admin' }, { alg: 'HS256' });
      expect(await refusal(verifier, forged)).toBe('algorithm');
    }
  });

  it('auth - with a secret and a public key, an HS256 token signed with the PEM only meets the secret and fails the signature', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET, publicKey: es.pem });
    expect(await refusal(verifier, await sign(hmac(es.pem), {}, { alg: 'HS256' }))).toBe('signature');
    await expect(verifier.verify(await sign(hmac(SECRET)))).resolves.toMatchObject({ sub: 'alice' });
    await expect(verifier.verify(await sign(es.privateKey))).resolves.toMatchObject({ sub: 'alice' });
    expect(await refusal(verifier, await sign(rs.privateKey, {}, { alg: 'RS256' }))).toBe('algorithm');
  });

  it('auth - an ES256 token against a secret-only verifier is refused as algorithm', async () => {
    expect(await refusal(hs, await sign(es.privateKey))).toBe('algorithm');
  });

  it('auth - an RS256 token against an ES256 public key is refused as algorithm', async () => {
    expect(await refusal(esVerifier, await sign(rs.privateKey, {}, { alg: 'RS256' }))).toBe('algorithm');
  });

  it('auth - an HS384 or HS512 token against an HS256 secret is refused as algorithm', async () => {
    expect(await refusal(hs, await sign(hmac(SECRET), {}, { alg: 'HS384' }))).toBe('algorithm');
    expect(await refusal(hs, await sign(hmac(SECRET), {}, { alg: 'HS512' }))).toBe('algorithm');
  });

  it('auth - a wrong or absent iss is issuer, a wrong or absent aud is audience', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'navimpact' });
    const key = hmac(SECRET);
    expect(await refusal(verifier, await sign(key, { iss: 'https://evil.example', aud: 'navimpact' }))).toBe('issuer');
    expect(await refusal(verifier, await sign(key, { aud: 'navimpact' }))).toBe('issuer');
    expect(await refusal(verifier, await sign(key, { iss: 'https://id.example', aud: 'someone-else' }))).toBe('audience');
    expect(await refusal(verifier, await sign(key, { iss: 'https://id.example' }))).toBe('audience');
  });

  it('auth - a missing sub, a missing exp or an empty sub is claims', async () => {
    expect(await refusal(hs, await sign(hmac(SECRET), {}, { omit: ['sub'] }))).toBe('claims');
    expect(await refusal(hs, await sign(hmac(SECRET), {}, { omit: ['exp'] }))).toBe('claims');
    expect(await refusal(hs, await sign(hmac(SECRET), { sub: '' }))).toBe('claims');
  });

  it('auth - a role outside viewer, monitor and admin is claims', async () => {
    expect(await refusal(hs, await sign(hmac(SECRET), { role: 'root' }))).toBe('claims');
    expect(await refusal(hs, await sign(hmac(SECRET), { role: ['admin'] }))).toBe('claims');
  });

  it('auth - an exp that is not a number and an nbf in the future are claims', async () => {
    expect(await refusal(hs, await sign(hmac(SECRET), { exp: 'tomorrow' as unknown as number }))).toBe('claims');
    expect(await refusal(hs, await sign(hmac(SECRET), { nbf: now() + 600 }))).toBe('claims');
  });
});

describe('auth - token lifetime (JWT_MAX_TTL)', () => {
  const hour = 3_600;

  it('auth - exp - iat over the maximum is lifetime, however near exp is', async () => {
    const v = await createTokenVerifier({ secret: SECRET, maxLifetimeMs: hour * 1000 });
    // Issued two hours before it expires, with ten minutes left: still too long-lived.
    expect(await refusal(v, await sign(hmac(SECRET), { iat: now() - 2 * hour + 600, exp: now() + 600 }))).toBe('lifetime');
    const ok = await v.verify(await sign(hmac(SECRET), { iat: now(), exp: now() + hour }));
    expect(ok.sub).toBe('alice');
  });

  it('auth - without iat, exp - now over the maximum is lifetime', async () => {
    const v = await createTokenVerifier({ secret: SECRET, maxLifetimeMs: hour * 1000 });
    expect(await refusal(v, await sign(hmac(SECRET), { exp: now() + 2 * hour }))).toBe('lifetime');
    expect((await v.verify(await sign(hmac(SECRET), { exp: now() + hour - 5 }))).sub).toBe('alice');
  });

  it('auth - an iat set just before a far exp does not stretch the lifetime (exp - now still counts)', async () => {
    const v = await createTokenVerifier({ secret: SECRET, maxLifetimeMs: hour * 1000 });
    expect(await refusal(v, await sign(hmac(SECRET), { iat: now() + 10 * hour, exp: now() + 10 * hour + 60 }))).toBe('lifetime');
  });

  it('auth - the default maximum is 24h, for every key source', async () => {
    const v = await createTokenVerifier({ secret: SECRET, publicKey: es.pem });
    expect(await refusal(v, await sign(hmac(SECRET), { exp: now() + 25 * hour }))).toBe('lifetime');
    expect(await refusal(v, await sign(es.privateKey, { iat: now(), exp: now() + 25 * hour }))).toBe('lifetime');
    expect((await v.verify(await sign(es.privateKey, { iat: now(), exp: now() + 23 * hour }))).sub).toBe('alice');
  });
});

describe('auth - verifier creation', () => {
  it('auth - no key at all is refused at creation', async () => {
    await expect(createTokenVerifier({})).rejects.toThrow(/JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL/);
  });

  it('auth - a secret under 32 bytes is refused at creation', async () => {
    await expect(createTokenVerifier({ secret: 'short' })).rejects.toThrow(/JWT_SECRET/);
  });

  it.each([
    ['P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, /P-256/],
    ['Ed448', () => generateKeyPairSync('ed448').publicKey, /unsupported key type ed448/],
    ['RSA-1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, /2048/],
    ['X25519', () => generateKeyPairSync('x25519').publicKey, /unsupported key type x25519/],
  ] as const)('auth - a %s public key is refused at creation with a clear error', async (_name, make, message) => {
    const pem = make().export({ type: 'spki', format: 'pem' }).toString();
    const err = await createTokenVerifier({ publicKey: pem }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^JWT_PUBLIC_KEY: /);
    expect((err as Error).message).toMatch(message);
  });

  it('auth - text that is not a PEM key is refused at creation', async () => {
    await expect(createTokenVerifier({ publicKey: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' })).rejects.toThrow(/^JWT_PUBLIC_KEY: /);
  });
});

/** A JWKS endpoint whose key set a test can change, counting the requests it answers. */
class JwksServer {
  requests = 0;
  private constructor(
    private readonly server: Server,
    public keys: JWK[],
  ) {}

  static async start(keys: JWK[]): Promise<JwksServer> {
    let self: JwksServer | undefined;
    const server = createServer((_req, res) => {
      if (!self) return;
      self.requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: self.keys }));
    });
    self = new JwksServer(server, keys);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return self;
  }

  get url(): string {
    const { port } = this.server.address() as { port: number };
    return `http://127.0.0.1:${port}/.well-known/jwks.json`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

describe('auth - JWKS', () => {
  const servers: JwksServer[] = [];
  const serve = async (keys: JWK[]) => {
    const server = await JwksServer.start(keys);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('auth - a token whose kid is in the JWKS is accepted, for each algorithm', async () => {
    const server = await serve([await jwk(es, 'k-es'), await jwk(ed, 'k-ed'), await jwk(rs, 'k-rs')]);
    const verifier = await createTokenVerifier({ jwksUrl: server.url });
    for (const [p, kid] of [
      [es, 'k-es'],
      [ed, 'k-ed'],
      [rs, 'k-rs'],
    ] as const) {
      const exp = now() + 300;
      await expect(verifier.verify(await sign(p.privateKey, { exp, role: 'monitor' }, { alg: p.alg, kid }))).resolves.toEqual({ sub: 'alice', role: 'monitor', expiresAt: exp * 1000 });
    }
    expect(server.requests).toBe(1);
  });

  it('auth - a key set of several keys without kid verifies with the one that fits', async () => {
    const other = await pair('ES256');
    const server = await serve([await jwk(other), await jwk(es)]);
    const verifier = await createTokenVerifier({ jwksUrl: server.url });
    await expect(verifier.verify(await sign(es.privateKey))).resolves.toMatchObject({ sub: 'alice' });
    const stranger = await pair('ES256');
    expect(await refusal(verifier, await sign(stranger.privateKey))).toBe('signature');
  });

  it('auth - a new kid after the key set changed is accepted after a refetch, not before the cooldown', async () => {
    const next = await pair('EdDSA');
    const server = await serve([await jwk(es, 'old')]);
    const verifier = await createTokenVerifier({ jwksUrl: server.url, jwksCooldownMs: 400 });
    await expect(verifier.verify(await sign(es.privateKey, {}, { kid: 'old' }))).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(1);

    server.keys = [await jwk(es, 'old'), await jwk(next, 'new')];
    const rotated = await sign(next.privateKey, {}, { alg: 'EdDSA', kid: 'new' });
    // Within the cooldown the cached set is trusted: an unknown kid refetches nothing.
    expect(await refusal(verifier, rotated)).toBe('unknown_key');
    expect(server.requests).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 500));
    await expect(verifier.verify(rotated)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(2);
  });

  it('auth - a burst of 50 tokens with unknown kids makes at most 2 JWKS requests (default cooldown)', async () => {
    const server = await serve([await jwk(es, 'known')]);
    const verifier = await createTokenVerifier({ jwksUrl: server.url });
    const stranger = await pair('ES256');
    const tokens = await Promise.all(Array.from({ length: 50 }, () => sign(stranger.privateKey, {}, { kid: randomUUID() })));
    const reasons = await Promise.all(tokens.map((t) => refusal(verifier, t)));
    expect(new Set(reasons)).toEqual(new Set(['unknown_key']));
    // Another burst a moment later, and a valid token: still no more requests.
    const again = await Promise.all(tokens.slice(0, 10).map((t) => refusal(verifier, t)));
    expect(new Set(again)).toEqual(new Set(['unknown_key']));
    await expect(verifier.verify(await sign(es.privateKey, {}, { kid: 'known' }))).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBeGreaterThanOrEqual(1);
    expect(server.requests).toBeLessThanOrEqual(2);
  });

  it('auth - a known kid of another key type is unknown_key, HS256 against JWKS only is algorithm', async () => {
    const server = await serve([await jwk(rs, 'k1')]);
    const verifier = await createTokenVerifier({ jwksUrl: server.url });
    expect(await refusal(verifier, await sign(es.privateKey, {}, { kid: 'k1' }))).toBe('unknown_key');
    expect(await refusal(verifier, await sign(hmac(SECRET), {}, { kid: 'k1' }))).toBe('algorithm');
  });

  it('auth - an unreachable JWKS endpoint refuses the token as unknown_key', async () => {
    const server = await serve([await jwk(es, 'k1')]);
    const url = server.url;
    await servers.pop()?.close();
    const verifier = await createTokenVerifier({ jwksUrl: url });
    expect(await refusal(verifier, await sign(es.privateKey, {}, { kid: 'k1' }))).toBe('unknown_key');
  });

  it('auth - with a public key and a JWKS, a token of the same alg signed by a JWKS key verifies after the public key fails', async () => {
    const rotated = await pair('ES256');
    const server = await serve([await jwk(rotated, 'es-2'), await jwk(ed, 'e1')]);
    const verifier = await createTokenVerifier({ publicKey: es.pem, jwksUrl: server.url });
    await expect(verifier.verify(await sign(es.privateKey))).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(0);
    await expect(verifier.verify(await sign(rotated.privateKey, { sub: 'bob' }, { kid: 'es-2' }))).resolves.toMatchObject({ sub: 'bob' });
    await expect(verifier.verify(await sign(ed.privateKey, {}, { alg: 'EdDSA', kid: 'e1' }))).resolves.toMatchObject({ sub: 'alice' });
    expect(await refusal(verifier, await sign((await pair('ES256')).privateKey, {}, { kid: 'es-2' }))).toBe('signature');
    expect(await refusal(verifier, await sign(es.privateKey, { exp: now() - 10 }))).toBe('expired');
  });
});

describe('auth - transport helpers', () => {
  it('auth - parseBearer reads the token of a Bearer header, scheme case-insensitive', () => {
    expect(parseBearer('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('BEARER   abc.def.ghi ')).toBe('abc.def.ghi');
  });

  it('auth - parseBearer gives what the grammar of the header captures, for 20,000 random headers', () => {
    const reference = (h: string) => /^Bearer[ \t]+([^\s,]+)[ \t]*$/i.exec(h)?.[1];
    const pieces = ['Bearer', 'bearer', 'BEARER', 'Basic', ' ', '\t', '  ', ',', 'a', 'b.c', '-_', '\u00a0', '\u2028', '\ufeff', '\n', 'é', '='];
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let tokens = 0;
    for (let i = 0; i < 20_000; i++) {
      let header = i % 2 === 0 ? pieces[Math.floor(next() * 3)]! : '';
      const length = Math.floor(next() * 6);
      for (let j = 0; j < length; j++) header += pieces[Math.floor(next() * pieces.length)]!;
      const expected = reference(header);
      if (expected !== undefined) tokens++;
      expect({ header, token: parseBearer(header) }).toEqual({ header, token: expected });
    }
    expect(tokens).toBeGreaterThan(300);
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearerabc', 'Token abc'])('auth - parseBearer finds no token in %j', (header) => {
    expect(parseBearer(header)).toBeUndefined();
  });

  it('auth - tokenFromSubprotocols reads bearer.<jwt> and whether navimpact.v1 was offered', () => {
    expect(tokenFromSubprotocols('navimpact.v1, bearer.abc.def.ghi')).toEqual({ token: 'abc.def.ghi', offered: true });
    expect(tokenFromSubprotocols('bearer.abc.def.ghi,navimpact.v1')).toEqual({ token: 'abc.def.ghi', offered: true });
    expect(tokenFromSubprotocols('bearer.abc.def.ghi')).toEqual({ token: 'abc.def.ghi', offered: false });
    expect(tokenFromSubprotocols('navimpact.v1')).toEqual({ offered: true });
    expect(tokenFromSubprotocols('chat, superchat')).toEqual({ offered: false });
    expect(tokenFromSubprotocols('navimpact.v1, bearer.')).toEqual({ offered: true });
    expect(tokenFromSubprotocols('navimpact.v2, bearer.x')).toEqual({ token: 'x', offered: false });
    expect(tokenFromSubprotocols(undefined)).toEqual({ offered: false });
    expect(tokenFromSubprotocols('')).toEqual({ offered: false });
  });

  it('auth - originAllowed matches exact origins only', () => {
    const allowed = ['https://app.example.org', 'http://localhost:3000'];
    expect(originAllowed('https://app.example.org', allowed)).toBe(true);
    expect(originAllowed('http://localhost:3000', allowed)).toBe(true);
    expect(originAllowed('https://app.example.org/', allowed)).toBe(false);
    expect(originAllowed('https://app.example.org:8443', allowed)).toBe(false);
    expect(originAllowed('http://app.example.org', allowed)).toBe(false);
    expect(originAllowed('https://evil.app.example.org', allowed)).toBe(false);
    expect(originAllowed('https://app.example.org.evil.com', allowed)).toBe(false);
    expect(originAllowed('null', allowed)).toBe(false);
    expect(originAllowed('https://app.example.org', [])).toBe(false);
  });

  it('auth - originAllowed lets a request without Origin through, and * allows any origin', () => {
    expect(originAllowed(undefined, [])).toBe(true);
    expect(originAllowed('', ['https://app.example.org'])).toBe(true);
    expect(originAllowed('https://anything.example', ['*'])).toBe(true);
  });
});
