/**
 * The views bench's command line (see the usage in run.ts), parsed once at start.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { benchLog } from '../common/report.js';
import { now } from '../common/time.js';

export const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string' },
    filters: { type: 'string' },
    procs: { type: 'string' },
    rates: { type: 'string' },
    'final-rates': { type: 'string' },
    'step-seconds': { type: 'string' },
    rounds: { type: 'string' },
    samplers: { type: 'string' },
    rows: { type: 'string' },
    'description-chars': { type: 'string', default: '400' },
    seed: { type: 'string', default: '20261130' },
    profile: { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '30' },
    'pg-url': { type: 'string', default: 'postgres://root@127.0.0.1:5432/postgres' },
    out: { type: 'string' },
  },
});

export const quick = args.quick!;
const num = (v: string | undefined, full: number, small: number) => Number(v ?? (quick ? small : full));
export const CFG = {
  clients: num(args.clients, 10_000, 1_000),
  filters: num(args.filters, 1_000, 100),
  /** Load processes per phase (each phase has its own, on source addresses of its own). */
  procs: num(args.procs, 5, 2),
  /** Rates measured in every round. */
  rates: (args.rates ?? '10,20').split(',').map(Number),
  /**
   * Rates measured once, after the rounds, the filtered phase first: at these the load
   * generator may fall far behind the `grants` phase and the gateway close some of its
   * clients as too slow, so no step comes after them.
   */
  finalRates: (args['final-rates'] ?? '50').split(',').filter(Boolean).map(Number),
  stepSeconds: num(args['step-seconds'], 30, 4),
  /** Each rate is measured this many times per phase, the phases' order swapped each round. */
  rounds: num(args.rounds, 2, 1),
  samplersPerProc: num(args.samplers, 20, 10),
  rows: num(args.rows, 5_000, 2_000),
  /** Longest wait for a quiet machine before each measurement. */
  quietWaitSeconds: quick ? 5 : 10,
  descriptionChars: Number(args['description-chars']),
  seed: Number(args.seed),
  /** CPU-profile the gateway during each measured step (through its inspector; adds overhead). */
  profile: args.profile!,
  maxMinutes: Number(args['max-minutes']),
  pgUrl: args['pg-url']!,
};
/** The goal: gateway CPU per event with filtered views at most this times that on `grants`. */
export const GOAL_CPU_RATIO = 1.2;
/** The secret the gateways verify the load processes' tokens with (one per bench run). */
export const JWT_SECRET = randomBytes(32).toString('base64url');
export const STARTED = now();
export const deadline = STARTED + CFG.maxMinutes * 60_000;
export const log = benchLog('views', STARTED);
