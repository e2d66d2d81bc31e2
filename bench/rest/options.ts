/**
 * The REST bench's command line (see the usage in run.ts), parsed once at start: the run's
 * sizes, the variants and load generators, and the goals they are judged by.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { benchLog } from '../common/report.js';
import { now } from '../common/time.js';

export const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    'warmup-seconds': { type: 'string' },
    rounds: { type: 'string' },
    attempts: { type: 'string', default: '3' },
    connections: { type: 'string', default: '128' },
    procs: { type: 'string', default: '2' },
    ids: { type: 'string', default: '1000' },
    grants: { type: 'string', default: '3000' },
    'description-chars': { type: 'string', default: '400' },
    variants: { type: 'string', default: 'bare,fastify,fastifyAuth,gatewayAuth' },
    generators: { type: 'string' },
    'max-minutes': { type: 'string', default: '20' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
    out: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'gateway-node-args': { type: 'string' },
    roles: { type: 'string', default: 'gateway,relay,invalidator,ingest' },
  },
});

export const quick = args.quick!;
const num = (v: string | undefined, full: number, small: number) => Number(v ?? (quick ? small : full));
export const CFG = {
  seconds: num(args.seconds, 10, 3),
  warmupSeconds: num(args['warmup-seconds'], 2, 1),
  rounds: num(args.rounds, 3, 1),
  attempts: Number(args.attempts),
  connections: Number(args.connections),
  procs: Number(args.procs),
  ids: Number(args.ids),
  grants: Math.max(Number(args.grants), Number(args.ids)),
  descriptionChars: Number(args['description-chars']),
  variants: args.variants!.split(',') as VariantName[],
  /** autocannon always; wrk too when it is installed (a C load generator, far cheaper per request). */
  generators: (args.generators ?? (hasWrk() ? 'autocannon,wrk' : 'autocannon')).split(',') as LoadGenerator[],
  maxMinutes: Number(args['max-minutes']),
  /**
   * ROLES of the gateway process: by default every role, as `npm start` runs it (issue 15:
   * measured as deployed); `--roles gateway,invalidator` is the split deployment's gateway.
   */
  roles: args.roles!,
  /** Pool size of each Fastify server: the gateway's default DATABASE_POOL_SIZE. */
  poolSize: 10,
  /** SET EX of the Fastify servers: the gateway's default CACHE_TTL (5 minutes). */
  cacheTtlSeconds: 300,
};
export const GOALS = { ofCeiling: 0.6, timesFastifyAuth: 2 };
/** A run during which other processes used more than this many cores is run again (up to `--attempts` times). */
export const DISTURBED_CORES = 0.25;
/** The secret the gateway and the Fastify servers verify the bench's tokens with (one per run). */
export const JWT_SECRET = randomBytes(32).toString('base64url');
export const STARTED = now();
export const log = benchLog('rest', STARTED);

export type Target = 'bare' | 'fastify' | 'gateway';
export type LoadGenerator = 'autocannon' | 'wrk';
export type VariantName = 'bare' | 'fastify' | 'fastifyAuth' | 'gatewayAuth';
export const VARIANTS: Record<VariantName, { target: Target; auth: boolean; description: string }> = {
  bare: { target: 'bare', auth: false, description: 'bare uWebSockets.js handler returning the captured gateway answer per id; no auth, no cache (the ceiling)' },
  fastify: { target: 'fastify', auth: false, description: 'Fastify 5 + ioredis GET (+ pg and SET with TTL on a miss); no auth' },
  fastifyAuth: { target: 'fastify', auth: true, description: 'as fastify, plus an onRequest hook verifying the Bearer token with jose jwtVerify on every request' },
  gatewayAuth: { target: 'gateway', auth: true, description: 'npm start (ROLES as --roles, every role by default) with its default settings; Bearer token required (verified tokens are remembered by the gateway)' },
};

/** Whether wrk is installed (the default generators include it then). */
function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version.
    return (err as { status?: number }).status === 1;
  }
}
