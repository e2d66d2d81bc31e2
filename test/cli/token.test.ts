/**
 * `npm run token` as an operator runs it: `src/cli/token.ts` in a child process, configured
 * only by the environment passed here, its token checked by the gateway's verifier.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../src/auth/verifier.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'cli-test-secret-0123456789-abcdefghijklmnop';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runToken(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/token.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const keyPem = (pair: { privateKey: import('node:crypto').KeyObject; publicKey: import('node:crypto').KeyObject }) => ({
  privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
});

/** The one line a refusal prints on stderr. */
function oneLine(run: Run): string {
  const lines = run.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, run.stderr).toHaveLength(1);
  expect(run.stdout).toBe('');
  return lines[0] ?? '';
}

describe('token cli', () => {
  it('token cli - prints only an HS256 token that the gateway verifier accepts with its sub, role and ttl', async () => {
    const before = Date.now();
    const run = await runToken(['--sub', 'alice', '--role', 'monitor', '--ttl', '5m'], { JWT_SECRET: SECRET });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = run.stdout.trimEnd();
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const principal = await (await createTokenVerifier({ secret: SECRET })).verify(token);
    expect(principal.sub).toBe('alice');
    expect(principal.role).toBe('monitor');
    expect(principal.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 300_000);
    expect(principal.expiresAt).toBeLessThanOrEqual(Date.now() + 300_000 + 1_000);
    // Another secret does not accept it: the CLI really signed with JWT_SECRET.
    await expect((await createTokenVerifier({ secret: `${SECRET}-other` })).verify(token)).rejects.toMatchObject({ reason: 'signature' });
  });

  it('token cli - JWT_PRIVATE_KEY signs with the algorithm of its key type, with JWT_ISSUER and JWT_AUDIENCE', async () => {
    for (const [alg, pair] of [
      ['EdDSA', generateKeyPairSync('ed25519')],
      ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ] as const) {
      const { privatePem, publicPem } = keyPem(pair);
      const env = { JWT_PRIVATE_KEY: privatePem, JWT_SECRET: SECRET, JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'navimpact' };
      const run = await runToken(['--sub', 'svc-ingest'], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const token = run.stdout.trimEnd();
      expect(decodeProtectedHeader(token).alg).toBe(alg);
      const verifier = await createTokenVerifier({ publicKey: publicPem, issuer: 'https://id.example', audience: 'navimpact' });
      await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'svc-ingest', role: 'viewer' });
    }
  });

  it('token cli - --iss, --aud and --kid override the configuration', async () => {
    const run = await runToken(['--sub', 'bob', '--iss', 'cli-issuer', '--aud', 'cli-aud', '--kid', 'k-7'], { JWT_SECRET: SECRET, JWT_ISSUER: 'env-issuer' });
    expect(run.code).toBe(0);
    const token = run.stdout.trimEnd();
    expect(decodeProtectedHeader(token).kid).toBe('k-7');
    await expect((await createTokenVerifier({ secret: SECRET, issuer: 'cli-issuer', audience: 'cli-aud' })).verify(token)).resolves.toMatchObject({ sub: 'bob' });
    await expect((await createTokenVerifier({ secret: SECRET, issuer: 'env-issuer' })).verify(token)).rejects.toMatchObject({ reason: 'issuer' });
  });

  it('token cli - a bad role exits 64 with one line on stderr', async () => {
    const run = await runToken(['--sub', 'alice', '--role', 'root'], { JWT_SECRET: SECRET });
    expect(run.code).toBe(64);
    expect(oneLine(run)).toMatch(/--role .*viewer, monitor, admin/);
  });

  it.each([
    ['no --sub', ['--role', 'viewer']],
    ['an unknown option', ['--sub', 'alice', '--admin']],
    ['a bad ttl', ['--sub', 'alice', '--ttl', 'forever']],
    ['a ttl under a second', ['--sub', 'alice', '--ttl', '500ms']],
    ['a positional argument', ['alice']],
  ])('token cli - %s exits 64 with one line on stderr', async (_what, args) => {
    const run = await runToken(args, { JWT_SECRET: SECRET });
    expect(run.code).toBe(64);
    oneLine(run);
  });

  it('token cli - a --ttl longer than JWT_MAX_TTL exits 64: the service would refuse the token', async () => {
    const long = await runToken(['--sub', 'alice', '--ttl', '25h'], { JWT_SECRET: SECRET });
    expect(long.code).toBe(64);
    expect(oneLine(long)).toContain('JWT_MAX_TTL');
    const shorter = await runToken(['--sub', 'alice', '--ttl', '2h'], { JWT_SECRET: SECRET, JWT_MAX_TTL: '1h' });
    expect(shorter.code).toBe(64);
    expect((await runToken(['--sub', 'alice', '--ttl', '24h'], { JWT_SECRET: SECRET })).code).toBe(0);
  });

  it('token cli - no key configured exits 78 with one line naming the variables', async () => {
    const run = await runToken(['--sub', 'alice'], {});
    expect(run.code).toBe(78);
    const line = oneLine(run);
    expect(line).toContain('JWT_SECRET');
    expect(line).toContain('JWT_PRIVATE_KEY');
  });

  it('token cli - a bad key exits 78 without echoing it', async () => {
    const short = await runToken(['--sub', 'alice'], { JWT_SECRET: 'short-secret-never-echoed' });
    expect(short.code).toBe(78);
    expect(oneLine(short)).toContain('JWT_SECRET');
    expect(short.stderr).not.toContain('short-secret-never-echoed');

    const { privatePem } = keyPem(generateKeyPairSync('ec', { namedCurve: 'P-384' }));
    const p384 = await runToken(['--sub', 'alice'], { JWT_PRIVATE_KEY: privatePem });
    expect(p384.code).toBe(78);
    expect(oneLine(p384)).toMatch(/JWT_PRIVATE_KEY .*P-256/);
    expect(p384.stderr).not.toContain('PRIVATE KEY-----');
  });
});
