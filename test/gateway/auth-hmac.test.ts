/**
 * HS256 checked in the calling tick (src/auth/hmac.ts) against jose's `jwtVerify`: for every
 * token of a corpus (well-formed, expired, mis-addressed, tampered, re-encoded, hostile
 * headers and payloads, claims at their bounds), whatever the in-process path decides (a
 * payload, or an error the verifier turns into a refusal reason), jose decides the same, with
 * every set of options the verifier builds; what it leaves to jose is only what it must. The
 * same holds the second time round, once the header segments of verified tokens are
 * remembered. And the verifier takes this path for a usual token (no WebCrypto call, no
 * promise: `verifyNow`), and jose's for the rest.
 */
import { createHmac, createSecretKey } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jwtVerify, SignJWT, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { InProcessHs256 } from '../../src/auth/hmac.js';
import { createTokenVerifier, toTokenError } from '../../src/auth/verifier.js';

const SECRET = 'hmac-test-secret-0123456789-abcdefghijkl';
const OTHER = 'hmac-test-other-secret-0123456789-abcdef';
const bytes = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** `header.payload.signature` with the signature computed over the segments as given. */
const signRaw = (header: string, payload: string, secret = SECRET) => `${header}.${payload}.${createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')}`;
const sign = (claims: JWTPayload, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }, secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(bytes(secret));

const OPTIONS: JWTVerifyOptions = { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], clockTolerance: 0 };
const ADDRESSED: JWTVerifyOptions = { ...OPTIONS, issuer: 'https://issuer.example', audience: 'navimpact-live' };
/** Issuers and audiences as lists (jose accepts both forms). */
const LISTED: JWTVerifyOptions = { ...OPTIONS, issuer: ['https://a.example', 'https://issuer.example'], audience: ['navimpact-live', 'other'] };
const TOLERANT: JWTVerifyOptions = { ...OPTIONS, clockTolerance: 30 };
/** No claim required: what decides is the claims set's shape alone. */
const NOTHING_REQUIRED: JWTVerifyOptions = { algorithms: ['HS256'] };

/** What one path answered: the payload, or the refusal reason the verifier gives its error. */
type Outcome = { payload: unknown } | { reason: string } | 'undecided';

const reasonOf = (err: unknown): Outcome => ({ reason: toTokenError(err, 'secret').reason });

function outcomeOf(run: () => JWTPayload | undefined): Outcome {
  try {
    const payload = run();
    return payload === undefined ? 'undecided' : { payload };
  } catch (err) {
    return reasonOf(err);
  }
}

async function joseOutcome(token: string, options: JWTVerifyOptions): Promise<Outcome> {
  try {
    return { payload: (await jwtVerify(token, bytes(SECRET), options)).payload };
  } catch (err) {
    return reasonOf(err);
  }
}

/** One in-process verifier per set of options, as the verifier keeps one: its remembered headers persist across calls. */
const verifiers = new Map<JWTVerifyOptions, InProcessHs256>();
function inProcess(token: string, options: JWTVerifyOptions): Outcome {
  let verifier = verifiers.get(options);
  if (!verifier) verifiers.set(options, (verifier = new InProcessHs256(createSecretKey(bytes(SECRET)), options)));
  return outcomeOf(() => verifier.verify(token));
}

async function corpus(): Promise<Array<{ name: string; token: string; options: JWTVerifyOptions; decides: boolean }>> {
  const valid = await sign({ sub: 'alice', exp: now() + 3600, role: 'admin' });
  const [h, p, s] = valid.split('.') as [string, string, string];
  const hs = b64({ alg: 'HS256' });
  const last = s[42]!;
  // The last character carries 4 bits of the signature and 2 unused ones: another character
  // with the same 4 bits decodes to the same bytes in jose's forgiving decoder.
  const sameBits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const index = sameBits.indexOf(last);
  const reencoded = `${h}.${p}.${s.slice(0, 42)}${sameBits[index ^ 1]}`;
  return [
    { name: 'valid, typ JWT', token: valid, options: OPTIONS, decides: true },
    { name: 'valid, kid header', token: await sign({ sub: 'a', exp: now() + 60 }, { alg: 'HS256', kid: 'k1' }), options: OPTIONS, decides: true },
    { name: 'valid, header without typ', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: true },
    { name: 'issuer and audience match', token: await sign({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example', aud: ['x', 'navimpact-live'] }), options: ADDRESSED, decides: true },
    { name: 'wrong issuer', token: await sign({ sub: 'a', exp: now() + 60, iss: 'https://evil.example', aud: 'navimpact-live' }), options: ADDRESSED, decides: true },
    { name: 'absent audience', token: await sign({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example' }), options: ADDRESSED, decides: true },
    { name: 'expired', token: await sign({ sub: 'a', exp: now() - 5 }), options: OPTIONS, decides: true },
    { name: 'expired within tolerance', token: await sign({ sub: 'a', exp: now() - 5 }), options: { ...OPTIONS, clockTolerance: 30 }, decides: true },
    { name: 'nbf in the future', token: await sign({ sub: 'a', exp: now() + 60, nbf: now() + 600 }), options: OPTIONS, decides: true },
    { name: 'exp a string', token: signRaw(hs, b64({ sub: 'a', exp: String(now() + 60) })), options: OPTIONS, decides: true },
    { name: 'iat a string', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iat: 'yesterday' })), options: OPTIONS, decides: true },
    { name: 'no sub', token: await sign({ exp: now() + 60 }), options: OPTIONS, decides: true },
    { name: 'no exp', token: await sign({ sub: 'a' }), options: OPTIONS, decides: true },
    { name: 'payload an array', token: signRaw(hs, b64([1, 2])), options: OPTIONS, decides: true },
    { name: 'payload not JSON', token: signRaw(hs, b64('{"sub":')), options: OPTIONS, decides: true },
    { name: 'payload not UTF-8', token: signRaw(hs, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')), options: OPTIONS, decides: true },
    { name: 'payload of a length base64url cannot have', token: signRaw(hs, `${b64({ sub: 'a', exp: now() + 60 })}A`.slice(0, 4 * 5 + 1)), options: OPTIONS, decides: true },
    { name: 'tampered payload', token: `${h}.${b64({ sub: 'mallory', exp: now() + 3600, role: 'admin' })}.${s}`, options: OPTIONS, decides: false },
    { name: 'signed with another secret', token: await sign({ sub: 'a', exp: now() + 60 }, undefined, OTHER), options: OPTIONS, decides: false },
    { name: 'signature re-encoded (same bytes, other last character)', token: reencoded, options: OPTIONS, decides: false },
    { name: 'signature padded', token: `${valid}=`, options: OPTIONS, decides: false },
    { name: 'signature truncated', token: valid.slice(0, -1), options: OPTIONS, decides: false },
    { name: 'signature empty', token: `${h}.${p}.`, options: OPTIONS, decides: false },
    { name: 'crit b64 false (unencoded payload)', token: signRaw(b64({ alg: 'HS256', b64: false, crit: ['b64'] }), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: false },
    { name: 'crit naming an unknown extension', token: signRaw(b64({ alg: 'HS256', crit: ['exp'], exp: 1 }), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: false },
    { name: 'b64 true without crit', token: signRaw(b64({ alg: 'HS256', b64: true }), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: false },
    { name: 'a character outside base64url in the payload', token: signRaw(hs, `${b64({ sub: 'a', exp: now() + 60 })}*`), options: OPTIONS, decides: false },
    { name: 'a non-ASCII payload segment', token: signRaw(hs, `${b64({ sub: 'a', exp: now() + 60 })}é`), options: OPTIONS, decides: false },
    { name: 'a fourth segment', token: `${valid}.${s}`, options: OPTIONS, decides: false },
    { name: 'payload with a byte-order mark before the JSON', token: signRaw(hs, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ sub: 'a', exp: now() + 60 }))]).toString('base64url')), options: OPTIONS, decides: true },
    { name: 'payload with __proto__ and a duplicate sub', token: signRaw(hs, b64(`{"__proto__":{"role":"admin"},"sub":"x","sub":"y","exp":${now() + 60}}`)), options: OPTIONS, decides: true },
    { name: 'header with a duplicate alg (none, then HS256)', token: signRaw(b64('{"alg":"none","alg":"HS256"}'), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: true },
    { name: 'exp 1e400 (Infinity)', token: signRaw(hs, b64(`{"sub":"a","exp":1e400}`)), options: OPTIONS, decides: true },
    { name: 'exp now (expired: jose refuses exp <= now)', token: signRaw(hs, b64({ sub: 'a', exp: now() })), options: OPTIONS, decides: true },
    { name: 'exp -1e400 (-Infinity)', token: signRaw(hs, b64('{"sub":"a","exp":-1e400}')), options: OPTIONS, decides: true },
    { name: 'exp null', token: signRaw(hs, b64('{"sub":"a","exp":null}')), options: OPTIONS, decides: true },
    { name: 'nbf a string', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, nbf: 'now' })), options: OPTIONS, decides: true },
    { name: 'nbf in the past', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, nbf: now() - 60 })), options: OPTIONS, decides: true },
    { name: 'nbf in the future within tolerance', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, nbf: now() + 10 })), options: TOLERANT, decides: true },
    { name: 'nbf 1e400 (Infinity)', token: signRaw(hs, b64(`{"sub":"a","exp":${now() + 60},"nbf":1e400}`)), options: OPTIONS, decides: true },
    { name: 'iat in the future (no maxTokenAge: allowed)', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iat: now() + 30 })), options: OPTIONS, decides: true },
    { name: 'iat null', token: signRaw(hs, b64('{"sub":"a","exp":9999999999,"iat":null}')), options: OPTIONS, decides: true },
    { name: 'sub null (present: jose lets it through, the claims schema refuses)', token: signRaw(hs, b64({ sub: null, exp: now() + 60 })), options: OPTIONS, decides: true },
    { name: 'issuer in a list, audience in a list', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example', aud: 'other' })), options: LISTED, decides: true },
    { name: 'audience a list sharing no member', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example', aud: ['x', 'y'] })), options: LISTED, decides: true },
    { name: 'audience a number', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example', aud: 7 })), options: ADDRESSED, decides: true },
    { name: 'issuer a list in the token', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iss: ['https://issuer.example'], aud: 'navimpact-live' })), options: ADDRESSED, decides: true },
    { name: 'audience present but null', token: signRaw(hs, b64({ sub: 'a', exp: now() + 60, iss: 'https://issuer.example', aud: null })), options: ADDRESSED, decides: true },
    { name: 'payload an array, no claim required', token: signRaw(hs, b64([1, 2])), options: NOTHING_REQUIRED, decides: true },
    { name: 'payload null, no claim required', token: signRaw(hs, b64('null')), options: NOTHING_REQUIRED, decides: true },
    { name: 'payload an object, no claim required', token: signRaw(hs, b64({})), options: NOTHING_REQUIRED, decides: true },
    // JSON of 3n bytes is 4n characters: one more makes a length base64url cannot have, whose first 4n decode to a valid claims set.
    { name: 'payload of 4n+1 characters whose first 4n decode', token: signRaw(hs, `${b64(`{"sub":"a","exp":${now() + 60}}`.padEnd(30, ' '))}Q`), options: OPTIONS, decides: true },
    { name: 'payload null', token: signRaw(hs, b64('null')), options: OPTIONS, decides: true },
    { name: 'payload a string', token: signRaw(hs, b64('"sub"')), options: OPTIONS, decides: true },
    { name: 'payload with exp only in __proto__', token: signRaw(hs, b64('{"sub":"a","__proto__":{"exp":9999999999}}')), options: OPTIONS, decides: true },
    { name: 'payload with a byte-order mark and whitespace', token: signRaw(hs, Buffer.from(`\ufeff \n{"sub":"a","exp":${now() + 60}} `).toString('base64url')), options: OPTIONS, decides: true },
    { name: 'payload with two byte-order marks', token: signRaw(hs, Buffer.from(`\ufeff\ufeff{"sub":"a","exp":${now() + 60}}`).toString('base64url')), options: OPTIONS, decides: true },
    { name: 'payload with a lone surrogate escaped in a claim', token: signRaw(hs, b64(`{"sub":"\\ud800","exp":${now() + 60}}`)), options: OPTIONS, decides: true },
    { name: 'payload of 4n+2 characters (unused bits set)', token: signRaw(hs, `${b64({ sub: 'ab', exp: now() + 60 })}`.replace(/.$/, (c) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(c) | 3]!)), options: OPTIONS, decides: true },
    { name: 'header with alg HS256 and a jku', token: signRaw(b64({ alg: 'HS256', jku: 'https://evil.example/keys' }), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: true },
    { name: 'header not JSON', token: signRaw(b64('{"alg":'), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: false },
    { name: 'header an array', token: signRaw(b64(['HS256']), b64({ sub: 'a', exp: now() + 60 })), options: OPTIONS, decides: false },
    { name: 'options with a subject (not implemented here)', token: valid, options: { ...OPTIONS, subject: 'alice' }, decides: false },
    { name: 'options with a maxTokenAge (not implemented here)', token: valid, options: { ...OPTIONS, maxTokenAge: 60 }, decides: false },
    { name: 'options without HS256 among the algorithms', token: valid, options: { ...OPTIONS, algorithms: ['RS256'] }, decides: false },
    { name: 'options requiring a typ', token: valid, options: { ...OPTIONS, typ: 'JWT' }, decides: false },
    { name: 'HS384 header', token: await sign({ sub: 'a', exp: now() + 60 }, { alg: 'HS384' }), options: OPTIONS, decides: false },
    { name: 'alg none', token: `${b64({ alg: 'none' })}.${p}.`, options: OPTIONS, decides: false },
  ];
}

describe('auth - HS256 in the calling tick agrees with jose', () => {
  it('auth - every token the in-process path decides, jose decides the same; the rest it leaves to jose', async () => {
    const tokens = await corpus();
    const decisions = [];
    // Twice: the second round meets the header segments the first remembered.
    for (const round of [1, 2]) {
      for (const { name, token, options, decides } of tokens) {
        const ours = inProcess(token, options);
        if (round === 1) decisions.push({ name, decided: ours !== 'undecided' });
        if (ours !== 'undecided') expect({ name, round, outcome: ours }).toEqual({ name, round, outcome: await joseOutcome(token, options) });
        expect({ name, round, decided: ours !== 'undecided' }).toEqual({ name, round, decided: decides });
      }
    }
    // The corpus exercises both sides: accepted, refused by a claim, refused as malformed, and left to jose.
    expect(decisions.filter((d) => d.decided).length).toBeGreaterThanOrEqual(10);
    expect(decisions.filter((d) => !d.decided).length).toBeGreaterThanOrEqual(10);
  });

  it('auth - a token the in-process path leaves to jose gets jose\'s answer (re-encoded signature accepted, tampered refused)', async () => {
    const tokens = await corpus();
    const reencoded = tokens.find((t) => t.name.startsWith('signature re-encoded'))!;
    const tampered = tokens.find((t) => t.name === 'tampered payload')!;
    expect(await joseOutcome(reencoded.token, OPTIONS)).toMatchObject({ payload: { sub: 'alice' } });
    expect(await joseOutcome(tampered.token, OPTIONS)).toEqual({ reason: 'signature' });
  });
});

describe('auth - the verifier takes the in-process path for usual HS256 tokens', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('auth - a usual token verifies with no WebCrypto call; a re-encoded signature goes to jose and verifies there; a tampered one is refused as signature', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET });
    const subtle = vi.spyOn(crypto.subtle, 'verify');
    const tokens = await corpus();
    const valid = tokens.find((t) => t.name === 'valid, typ JWT')!.token;
    await expect(verifier.verify(valid)).resolves.toMatchObject({ sub: 'alice', role: 'admin' });
    await expect(verifier.verify(tokens.find((t) => t.name === 'expired')!.token)).rejects.toMatchObject({ reason: 'expired' });
    expect(subtle).not.toHaveBeenCalled();

    await expect(verifier.verify(tokens.find((t) => t.name.startsWith('signature re-encoded'))!.token)).resolves.toMatchObject({ sub: 'alice' });
    expect(subtle).toHaveBeenCalledTimes(1);
    await expect(verifier.verify(tokens.find((t) => t.name === 'tampered payload')!.token)).rejects.toMatchObject({ reason: 'signature' });
    expect(subtle).toHaveBeenCalledTimes(2);
  });

  it('auth - verifyNow decides a usual token with no promise, refuses as verify refuses, and leaves the rest to verify', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET });
    const tokens = await corpus();
    const named = (name: string) => tokens.find((t) => t.name === name)!.token;
    expect(verifier.verifyNow(named('valid, typ JWT'))).toMatchObject({ sub: 'alice', role: 'admin' });
    expect(() => verifier.verifyNow(named('expired'))).toThrow(expect.objectContaining({ reason: 'expired' }));
    expect(() => verifier.verifyNow(named('sub null (present: jose lets it through, the claims schema refuses)'))).toThrow(expect.objectContaining({ reason: 'claims' }));
    expect(verifier.verifyNow(tokens.find((t) => t.name.startsWith('signature re-encoded'))!.token)).toBeUndefined();
    expect(verifier.verifyNow(named('tampered payload'))).toBeUndefined();
    expect(verifier.verifyNow('')).toBeUndefined();
    expect(verifier.verifyNow('x'.repeat(9_000))).toBeUndefined();
    // Every token of the corpus: what verifyNow decides, verify decides the same.
    for (const { name, token, options } of tokens) {
      if (options !== OPTIONS) continue;
      let now: unknown;
      try {
        now = verifier.verifyNow(token);
      } catch (err) {
        now = { reason: (err as { reason: string }).reason };
      }
      if (now === undefined) continue;
      const later = await verifier.verify(token).then(
        (p) => p,
        (err: { reason: string }) => ({ reason: err.reason }),
      );
      expect({ name, now }).toEqual({ name, now: later });
    }
    // A verifier without a secret decides nothing in the tick.
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await createTokenVerifier({ publicKey: pem })).verifyNow(named('valid, typ JWT'))).toBeUndefined();
  });

  it('auth - the verifier resolves a usual token before any I/O: in the same turn of the event loop', async () => {
    const verifier = await createTokenVerifier({ secret: SECRET });
    const token = await sign({ sub: 'bob', exp: now() + 60 });
    let immediate = false;
    setImmediate(() => {
      immediate = true;
    });
    await verifier.verify(token);
    expect(immediate).toBe(false);
  });
});
