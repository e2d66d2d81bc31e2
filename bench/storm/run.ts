/**
 * bench/storm: reconnect storms over two gateways on one port (issue 14, acceptance 2 and 3).
 *
 * Set-up: a fresh database (1,000 grants), a private nats-server, a relay process and two
 * gateway processes (`src/main.ts`, ROLES=gateway, HTTP_REUSE_PORT=true, the same PORT: the
 * kernel spreads connections over them), GATEWAY_ACCEPT_RATE and SHUTDOWN_DRAIN as given.
 * The clients live in several load processes on source addresses 127.0.0.2, .3, ...
 * (sdk-load.ts); each subscribes to `grants` and checks that every seq it gets is exactly one
 * more than the last. By default they are resume-client.ts: the SDK's reconnect rules
 * (backoff with full jitter, the 1 s floor spread to 2 s after a 503, resume with `since`)
 * on the raw frame walker of bench/gateway, because 10,000 of the SDK's own `LiveClient`s
 * (a zod check of every frame, `ws`) cannot keep up on this two-core machine: their load
 * processes stopped answering for minutes during the storm. `--client sdk` runs `LiveClient`.
 * Single-row UPDATEs are committed at `--rate` a second throughout.
 *
 * Phase `storm`: `--clients` clients over both gateways; after 5 s of steady commits one
 * gateway is SIGKILLed. Its clients reconnect (the SDK's backoff, 503 + Retry-After from the
 * survivor's admission) and resume with `since`. Reported: the time until each is welcomed
 * and subscribed again (all back = the last one), the busiest second of upgrades the
 * survivor admitted, close codes, commit-to-client latency of live frames on the survivor's
 * own clients (those never disconnected) and on the moved ones, and of the replayed ones;
 * the survivor's `navimpact_db_statements_total` across the storm (must not move: resumes
 * come from JetStream, never from Postgres), and the database's transactions beside the
 * committer's. After the commits stop, every client must hold every seq once and in order.
 *
 * Phase `drain`: new load processes open `--clients` clients over a fresh pair (about half
 * on each); one gets SIGTERM. Reported: when its clients were closed (1001) relative to the
 * signal, per second and as percentiles, against SHUTDOWN_DRAIN; the most upgrades the
 * other admitted in any second (from the clients' welcomes, and from its
 * `navimpact_ws_connections` sampled every 250 ms); and again every seq once, in order.
 *
 * Usage: npm run bench:storm -- [--quick] [--clients 10000] [--procs 5] [--rate 2] [--client raw|sdk]
 *   [--accept-rate 500] [--drain 10s] [--only storm,drain] [--max-minutes 30]
 * Writes bench/results/storm.json (storm-quick.json with --quick: 1,000 clients, 2 processes).
 */
import { parseArgs } from 'node:util';
import { freePort, setChildLifetime, runBench, stopAll } from '../common/processes.js';
import { benchLog, reportHeader, writeReport } from '../common/report.js';
import { round } from '../common/stats.js';
import { now, sleep } from '../common/time.js';
import { busiestSecond, closeCodes, completeness, latencies, perSecond, spread } from './analysis.js';
import { Cluster, Fleet, steadyCommits, type Gateway } from './cluster.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string' },
    procs: { type: 'string' },
    rate: { type: 'string', default: '2' },
    client: { type: 'string', default: 'raw' },
    'accept-rate': { type: 'string', default: '500' },
    drain: { type: 'string', default: '10s' },
    only: { type: 'string', default: 'storm,drain' },
    'max-minutes': { type: 'string', default: '30' },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test' },
    out: { type: 'string' },
  },
});
const quick = args.quick!;
const CFG = {
  clients: Number(args.clients ?? (quick ? 1_000 : 10_000)),
  procs: Number(args.procs ?? (quick ? 2 : 5)),
  rate: Number(args.rate),
  client: args.client === 'sdk' ? ('sdk' as const) : ('raw' as const),
  acceptRate: Number(args['accept-rate']),
  drain: args.drain!,
  only: new Set(args.only!.split(',')),
  maxMinutes: Number(args['max-minutes']),
};
const STARTED = now();
const log = benchLog('storm', STARTED);

/** Samples `navimpact_ws_connections` of one gateway every 250 ms until stopped. */
function sampleConnections(cluster: Cluster, pid: number) {
  const samples: [number, number][] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const m = await cluster.metrics(pid, 20);
      const v = m?.get('navimpact_ws_connections');
      if (v !== undefined) samples.push([now(), v]);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      // The largest rise between consecutive samples, per second of their distance (a rise
      // over a longer gap is spread over it, so this is a lower bound of the busiest second).
      let most = 0;
      for (let i = 1; i < samples.length; i++) most = Math.max(most, ((samples[i]![1] - samples[i - 1]![1]) * 1_000) / Math.max(1_000, samples[i]![0] - samples[i - 1]![0]));
      return { samples: samples.length, maxRisePerSecond: round(most, 0), first: samples[0]?.[1], last: samples.at(-1)?.[1] };
    },
  };
}

async function connections(cluster: Cluster, gateways: Gateway[]) {
  const out: Record<string, number | undefined> = {};
  for (const g of gateways) out[g.name] = (await cluster.metrics(g.pid))?.get('navimpact_ws_connections');
  return out;
}

async function storm(cluster: Cluster) {
  const a = await cluster.gateway('gateway-a');
  const b = await cluster.gateway('gateway-b');
  const fleet = Fleet.start(CFG.procs, 2);
  try {
    const t0 = now();
    const ready = await fleet.open(CFG.client, cluster.port, CFG.clients, Math.min(CFG.acceptRate * 1.6, 2_000), 'storm');
    log(`storm: ${ready} of ${CFG.clients} clients subscribed in ${round((now() - t0) / 1000)} s`);
    const before = await connections(cluster, [a, b]);
    const commits = steadyCommits(cluster.committer, CFG.rate);
    await sleep(5_000);
    const settled = await fleet.snapshot(0);
    log(`storm: before the kill ${JSON.stringify({ ...before, notOpen: settled.notOpen, closes: settled.closes })}`);
    const start = (await fleet.snapshot(0)).minSeq;
    await fleet.mark(true);
    const statementsBefore = (await cluster.metrics(b.pid))?.get('navimpact_db_statements_total');
    const xactsBefore = await cluster.xacts();
    const committedBefore = commits.committed;
    const sampler = sampleConnections(cluster, b.pid);
    const killedAt = Date.now();
    a.kill('SIGKILL');
    log(`storm: SIGKILL ${a.name} (${before[a.name]} clients); ${b.name} held ${before[b.name]}`);
    await sleep(2_000); // the killed gateway's sockets are reset at once; let the clients notice
    let lastLog = 0;
    const progress = (s: { notOpen: number; behind: number; loopDelayMaxMs: number; cpuSeconds: number }) => {
      if (now() - lastLog < 5_000) return;
      lastLog = now();
      log(`  ${s.notOpen} not open; load processes: ${round(s.cpuSeconds)} CPU s, longest stall ${round(s.loopDelayMaxMs)} ms`);
    };
    const back = await fleet.caughtUp(-1, 600_000, progress);
    log(`storm: every client open again after ${round((Date.now() - killedAt) / 1000)} s (${back.notOpen} not open)`);
    await sleep(5_000); // live events on the gathered clients
    const { committed } = await commits.stop();
    const end = await cluster.drained();
    const caught = await fleet.caughtUp(end, 120_000);
    const statementsAfter = (await cluster.metrics(b.pid))?.get('navimpact_db_statements_total');
    const xactsAfter = await cluster.xacts();
    const bConnections = await sampler.stop();
    const ev = await fleet.events();
    const moved = ev.clients.filter((c) => c.closes.length > 0);
    const stayed = ev.clients.filter((c) => c.closes.length === 0);
    const welcomes = moved.flatMap((c) => c.welcomes);
    const firstWelcome = moved.map((c) => c.welcomes[0] ?? Infinity);
    const firstSubscribe = moved.map((c) => c.subscribes[0] ?? Infinity);
    const result = {
      clients: ready,
      connectionsBeforeKill: before,
      notOpenBeforeKill: settled.notOpen,
      socketClosesBeforeKill: settled.closes,
      moved: moved.length,
      stayed: stayed.length,
      seqSpan: { start, end, events: end - start },
      allWelcomedBackMs: round(Math.max(...firstWelcome) - killedAt, 0),
      allResumedMs: round(Math.max(...firstSubscribe) - killedAt, 0),
      welcomedBack: spread(firstWelcome, killedAt),
      resumed: spread(firstSubscribe, killedAt),
      welcomesPerSecondAfterKill: perSecond(welcomes, killedAt),
      survivorAdmittedBusiestSecond: busiestSecond(welcomes),
      survivorConnectionsFromMetrics: bConnections,
      acceptRate: CFG.acceptRate,
      socketClosesPerMovedClient: round(moved.reduce((s, c) => s + c.closes.length, 0) / Math.max(1, moved.length), 2),
      closeCodes: closeCodes(ev.clients),
      latencyMs: {
        survivorLiveOwnClients: latencies(stayed.map((c) => c.live)),
        movedClientsLiveAfterResume: latencies(moved.map((c) => c.live)),
        movedClientsReplayed: latencies(moved.map((c) => c.replayed)),
      },
      survivorDbStatements: { before: statementsBefore, after: statementsAfter, delta: (statementsAfter ?? NaN) - (statementsBefore ?? NaN) },
      databaseTransactions: { delta: xactsAfter - xactsBefore, committerCommits: committed - committedBefore },
      commits: committed,
      caughtUp: caught,
      completeness: completeness(ev.clients, start, end),
    };
    log(`storm: ${JSON.stringify({ moved: result.moved, allBack: result.allResumedMs, p99: result.latencyMs.survivorLiveOwnClients.p99, completeness: result.completeness })}`);
    return result;
  } finally {
    await fleet.stop();
    for (const g of [a, b]) {
      g.kill('SIGKILL');
      await g.proc.exited;
    }
  }
}

async function drain(cluster: Cluster) {
  const a = await cluster.gateway('gateway-c');
  const b = await cluster.gateway('gateway-d');
  const fleet = Fleet.start(CFG.procs, 2 + CFG.procs);
  try {
    const ready = await fleet.open(CFG.client, cluster.port, CFG.clients, Math.min(CFG.acceptRate * 1.6, 2_000), 'drain');
    const before = await connections(cluster, [a, b]);
    log(`drain: ${ready} clients subscribed; ${JSON.stringify(before)}`);
    const commits = steadyCommits(cluster.committer, CFG.rate);
    await sleep(3_000);
    const settled = await fleet.snapshot(0);
    log(`drain: before SIGTERM ${JSON.stringify({ notOpen: settled.notOpen, closes: settled.closes })}`);
    const start = (await fleet.snapshot(0)).minSeq;
    await fleet.mark(true);
    const sampler = sampleConnections(cluster, b.pid);
    await sleep(1_000);
    const termAt = Date.now();
    a.kill('SIGTERM');
    const code = await a.proc.exited;
    const exitedAt = Date.now();
    log(`drain: ${a.name} exited (${code}) ${round((exitedAt - termAt) / 1000)} s after SIGTERM`);
    const back = await fleet.caughtUp(-1, 300_000);
    await sleep(3_000);
    const { committed } = await commits.stop();
    const end = await cluster.drained();
    const caught = await fleet.caughtUp(end, 120_000);
    const bConnections = await sampler.stop();
    const ev = await fleet.events();
    const drainCloses = ev.clients.flatMap((c) => c.closes.filter(([t, code]) => code === 1001 && t >= termAt).slice(0, 1).map(([t]) => t));
    const moved = ev.clients.filter((c) => c.closes.length > 0);
    const welcomes = moved.flatMap((c) => c.welcomes);
    const result = {
      clients: ready,
      connectionsBeforeTerm: before,
      notOpenBeforeTerm: settled.notOpen,
      socketClosesBeforeTerm: settled.closes,
      drainSetting: CFG.drain,
      drainedGatewayExitMs: exitedAt - termAt,
      closed1001: spread(drainCloses, termAt),
      closesPerSecondAfterTerm: perSecond(drainCloses, termAt),
      mostClosedInOneSecond: busiestSecond(drainCloses),
      closeCodes: closeCodes(ev.clients),
      allBackMs: round(Math.max(...moved.map((c) => c.subscribes.at(-1) ?? Infinity)) - termAt, 0),
      everyClientOpenAgain: back.notOpen === 0,
      acceptRate: CFG.acceptRate,
      otherAdmittedBusiestSecond: busiestSecond(welcomes),
      welcomesPerSecondAfterTerm: perSecond(welcomes, termAt),
      otherConnectionsFromMetrics: bConnections,
      latencyMs: {
        otherLiveOwnClients: latencies(ev.clients.filter((c) => c.closes.length === 0).map((c) => c.live)),
        movedClientsReplayed: latencies(moved.map((c) => c.replayed)),
      },
      commits: committed,
      caughtUp: caught,
      completeness: completeness(ev.clients, start, end),
    };
    log(`drain: ${JSON.stringify({ closed1001: result.closed1001, busiest: result.otherAdmittedBusiestSecond, metricsRise: bConnections.maxRisePerSecond, completeness: result.completeness })}`);
    return result;
  } finally {
    await fleet.stop();
    for (const g of [a, b]) {
      g.kill('SIGKILL');
      await g.proc.exited;
    }
  }
}

async function main(): Promise<void> {
  setChildLifetime(CFG.maxMinutes * 60 + 300);
  const hardStop = setTimeout(() => {
    log('time budget exceeded: stopping everything');
    stopAll();
    process.exit(2);
  }, CFG.maxMinutes * 60_000);
  hardStop.unref();
  const report: Record<string, unknown> = { ...reportHeader('storm'), config: { ...CFG, only: [...CFG.only] } };
  const cluster = await Cluster.start(args['pg-url']!, await freePort(), { acceptRate: CFG.acceptRate, drain: CFG.drain });
  try {
    if (CFG.only.has('storm')) report.storm = await storm(cluster).catch((err: Error) => (log(`storm failed: ${err.stack}`), { error: err.message }));
    if (CFG.only.has('drain')) report.drain = await drain(cluster).catch((err: Error) => (log(`drain failed: ${err.stack}`), { error: err.message }));
    report.seconds = round((now() - STARTED) / 1000, 0);
  } finally {
    await cluster.stop();
    stopAll();
  }
  writeReport(report, quick ? 'storm-quick' : 'storm', args.out);
  process.exit(0);
}

runBench('storm', main);
