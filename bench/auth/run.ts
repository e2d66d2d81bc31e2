/**
 * bench/auth: what verifying a token costs the process that opens the connection (issue 15:
 * work done per handshake).
 *
 * N distinct HS256 tokens (distinct `sub`, as N users reconnecting at once would present),
 * each verified once per variant, in two patterns:
 * - `storm`: 250 at a time (`Promise.all`), as a reconnect storm hands the gateway
 *   handshakes faster than it answers them;
 * - `sequential`: one at a time, each awaited before the next.
 * Variants, alternated round by round, in this one process:
 * - `joseBytes`: jose's `jwtVerify` with the secret as bytes, as jose's documentation writes
 *   it (jose imports the key anew on every call);
 * - `joseKey`: the same with the secret imported once as a `CryptoKey` (what the gateway did
 *   until 2026-12-01: the baseline);
 * - `verifier`: the gateway's `createTokenVerifier` (src/auth/verifier.ts), which checks
 *   usual HS256 tokens in the calling tick (src/auth/hmac.ts).
 * Per variant and pattern: CPU microseconds per verification (`process.cpuUsage`, which
 * counts libuv's thread pool too) and wall microseconds per verification, the median over the
 * rounds, and each variant's ratio to `joseKey`. Every verification must succeed.
 *
 * Usage: npm run bench:auth -- [--tokens 20000] [--rounds 5] [--quick]
 * Prints one JSON document and writes bench/results/auth.json (auth-quick.json with --quick:
 * 2,000 tokens, 2 rounds).
 */
import { parseArgs } from 'node:util';
import { SignJWT, jwtVerify, type JWTVerifyOptions } from 'jose';
import { createTokenVerifier } from '../../src/auth/verifier.js';
import { benchLog, reportHeader, writeReport } from '../common/report.js';
import { runBench } from '../common/processes.js';
import { percentile, round } from '../common/stats.js';
import { now } from '../common/time.js';

const { values: args } = parseArgs({
  options: { tokens: { type: 'string' }, rounds: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
});
const quick = args.quick ?? false;
const TOKENS = Number(args.tokens ?? (quick ? 2_000 : 20_000));
const ROUNDS = Number(args.rounds ?? (quick ? 2 : 5));
const STORM_BATCH = 250;
const SECRET = 'bench-auth-secret-0123456789-abcdefghijklmnop';
const log = benchLog('auth', now());

type Verify = (token: string) => Promise<unknown>;
const PATTERNS = ['storm', 'sequential'] as const;
type Pattern = (typeof PATTERNS)[number];

async function run(verify: Verify, tokens: readonly string[], pattern: Pattern): Promise<{ cpuUs: number; wallUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = now();
  if (pattern === 'storm') {
    for (let i = 0; i < tokens.length; i += STORM_BATCH) await Promise.all(tokens.slice(i, i + STORM_BATCH).map(verify));
  } else {
    for (const token of tokens) await verify(token);
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / tokens.length, wallUs: ((now() - t0) * 1000) / tokens.length };
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

async function main(): Promise<void> {
  const bytes = new TextEncoder().encode(SECRET);
  const exp = Math.floor(Date.now() / 1000) + 3_600;
  log(`signing ${TOKENS} tokens`);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) tokens.push(await new SignJWT({ role: 'viewer' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`user-${i}`).setExpirationTime(exp).sign(bytes));

  const options: JWTVerifyOptions = { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] };
  const key = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const verifier = await createTokenVerifier({ secret: SECRET });
  const variants: Record<string, Verify> = {
    joseBytes: (t) => jwtVerify(t, bytes, options),
    joseKey: (t) => jwtVerify(t, key, options),
    verifier: (t) => verifier.verify(t),
  };

  // Warm up every variant (JIT, key caches) on a tenth of the tokens.
  for (const verify of Object.values(variants)) await run(verify, tokens.slice(0, Math.ceil(TOKENS / 10)), 'storm');

  const samples: Record<string, Record<Pattern, { cpuUs: number[]; wallUs: number[] }>> = {};
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order each round, so a slow moment of the machine does not fall on one variant.
    const names = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
    for (const name of names) {
      for (const pattern of PATTERNS) {
        const s = await run(variants[name]!, tokens, pattern);
        const slot = (samples[name] ??= { storm: { cpuUs: [], wallUs: [] }, sequential: { cpuUs: [], wallUs: [] } })[pattern];
        slot.cpuUs.push(s.cpuUs);
        slot.wallUs.push(s.wallUs);
      }
    }
    log(`round ${r + 1}/${ROUNDS} done`);
  }

  const result: Record<string, Record<Pattern, unknown>> = {};
  for (const [name, byPattern] of Object.entries(samples)) {
    result[name] = Object.fromEntries(
      PATTERNS.map((pattern) => {
        const s = byPattern[pattern];
        const base = samples.joseKey![pattern];
        return [
          pattern,
          {
            cpuUsPerVerify: round(median(s.cpuUs), 2),
            wallUsPerVerify: round(median(s.wallUs), 2),
            cpuRatioToJoseKey: round(median(s.cpuUs) / median(base.cpuUs), 3),
            wallRatioToJoseKey: round(median(s.wallUs) / median(base.wallUs), 3),
            cpuUsEachRound: s.cpuUs.map((x) => round(x, 2)),
          },
        ];
      }),
    ) as Record<Pattern, unknown>;
  }
  writeReport({ ...reportHeader('auth'), config: { tokens: TOKENS, rounds: ROUNDS, stormBatch: STORM_BATCH, quick }, baseline: 'joseKey', variants: result }, quick ? 'auth-quick' : 'auth', args.out);
  process.exit(0);
}

runBench('auth', main);
