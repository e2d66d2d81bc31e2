/**
 * The gateway bench's command line (see the usage in run.ts), parsed once at start, and the
 * bars a fan-out step is judged by.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { cpuProfArgs as profileArgs } from '../common/processes.js';
import { benchLog } from '../common/report.js';
import { now } from '../common/time.js';
import type { ClientKind } from './load-protocol.js';
import type { Target } from './wire.js';

export const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string' },
    procs: { type: 'string' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    samplers: { type: 'string' },
    'memory-connections': { type: 'string' },
    'memory-subscribed': { type: 'boolean', default: false },
    'handshake-seconds': { type: 'string' },
    'handshake-concurrency': { type: 'string' },
    targets: { type: 'string', default: 'gateway,bare,socketio' },
    only: { type: 'string', default: 'fanout,memory,handshakes' },
    client: { type: 'string', default: 'raw' },
    'sampler-client': { type: 'string', default: 'ws' },
    rows: { type: 'string', default: '2000' },
    'description-chars': { type: 'string', default: '400' },
    'max-minutes': { type: 'string', default: '40' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
    'cpu-prof': { type: 'string' },
    'gateway-roles': { type: 'string', default: 'gateway' },
    out: { type: 'string' },
  },
});

export const quick = args.quick!;
const num = (v: string | undefined, full: number, small: number) => Number(v ?? (quick ? small : full));
export const CFG = {
  clients: num(args.clients, 10_000, 500),
  procs: num(args.procs, 5, 2),
  rates: (args.rates ?? (quick ? '5,20' : '5,10,20,50,100,200,500,1000')).split(',').map(Number),
  stepSeconds: num(args['step-seconds'], 10, 4),
  samplersPerProc: num(args.samplers, 20, 5),
  memoryConnections: num(args['memory-connections'], 15_000, 1_000),
  memorySubscribed: args['memory-subscribed']!,
  handshakeSeconds: num(args['handshake-seconds'], 10, 3),
  handshakeConcurrency: num(args['handshake-concurrency'], 50, 5),
  targets: args.targets!.split(',') as Target[],
  only: new Set(args.only!.split(',')),
  client: args.client as ClientKind,
  samplerClient: args['sampler-client'] as ClientKind,
  rows: Number(args.rows),
  descriptionChars: Number(args['description-chars']),
  maxMinutes: Number(args['max-minutes']),
  /**
   * ROLES of the gateway process. `gateway` (the default): the split deployment, with the
   * relay in a process of its own. `gateway,relay,invalidator,ingest`: every role in one
   * process, as `npm start` runs it (its pipeline then has no relay process; the
   * invalidator gets a private redis-server).
   */
  gatewayRoles: args['gateway-roles']!.split(','),
};
/** The bar of the issue: a rate is sustained with p99 under 200 ms and 95% delivered. */
export const SUSTAINED = { p99Ms: 200, delivered: 0.95 };
/** A ladder stops after the first step past saturation. */
export const SATURATED = { p99Ms: 1_000, delivered: 0.9, commitShare: 0.9 };
/** The secret the servers verify the load processes' tokens with (one per bench run). */
export const JWT_SECRET = randomBytes(32).toString('base64url');
export const STARTED = now();
/** `--cpu-prof DIR`: node arguments that make a process write V8 CPU profiles into DIR/<name>/ when it stops. */
export const cpuProfArgs = (name: string): string[] => profileArgs(args['cpu-prof'], name);
export const deadline = STARTED + CFG.maxMinutes * 60_000;
export const log = benchLog('gateway', STARTED);
