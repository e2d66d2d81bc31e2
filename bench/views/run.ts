/**
 * bench/views: what filtered live views cost the gateway (issue 12, acceptance 5).
 *
 * Two phases in one run, at the same commit rates:
 * - `grants`: N WebSocket clients all subscribed to `grants` (every client gets every
 *   event: also what a design that filters in the client would send);
 * - `views`: the same N clients spread evenly over F distinct saved searches
 *   (`grants?<filter>`), realistic ones (corpus.ts) each matching a few percent of the
 *   catalogue.
 * Each phase has its own pipeline (private nats-server, fresh database seeded with the
 * same catalogue, the relay as its own process, ROLES=relay) and its own gateway
 * (`src/main.ts`, ROLES=gateway, APP_ENV=production), as the gateway bench deploys them:
 * the gateway's process then holds the gateway's work alone, so its CPU per event is the
 * views' cost undiluted by the relay's. Both databases receive the same seeded sequence of
 * single-row UPDATEs that move filter fields (status, closing date, amount, locations,
 * title, domain, description; changes.ts), so both gateways see identical events. Steps
 * alternate between the phases rate by rate, and the order swaps each round, so a burst of
 * other work on the machine does not fall on one phase alone. The `--final-rates` come
 * once, last, the filtered phase first: there the `grants` phase's clients (10,000 frames
 * per event) may fall so far behind that the gateway closes some, which would spoil any
 * step after it.
 *
 * Per step: gateway CPU seconds (from /proc) per committed event, gross and net of the
 * idle cost measured with the clients connected and nothing committed; frames and bytes
 * the clients read (TCP bytes, framing and pings included) against the frames the gateway's
 * own rule says each view should get (expected.ts: the delivered count must equal it);
 * commit-to-client latency p50/p99 from the sampling clients (`ws`), as in the gateway
 * bench; every process's CPU, and the machine's `others`.
 *
 * The load generator is the gateway bench's (bench/gateway/load*.ts): load processes on
 * source addresses 127.0.0.2.., raw frame-walking clients, `ws` samplers; a client takes
 * topic `topics[i % topics.length]` of its process's list.
 *
 * Usage: npm run bench:views -- [--quick] [--clients 10000] [--filters 1000] [--procs 5]
 *   [--rates 10,20] [--final-rates 50] [--step-seconds 30] [--rounds 2] [--samplers 20] [--rows 5000]
 *   [--seed N] [--profile] [--max-minutes 30]
 * Prints one JSON document and writes bench/results/views.json (views-quick.json with
 * --quick: 1,000 clients, 100 filters, 2,000 grants, 4 s steps, one round).
 */
import { reportHeader, writeReport } from '../common/report.js';
import { setChildLifetime, runBench, stopAll } from '../common/processes.js';
import { round } from '../common/stats.js';
import { now } from '../common/time.js';
import { SELECTIVITY, MAX_TOPIC_CHARS, savedSearches, seedGrants } from './corpus.js';
import { setUpTwo, tearDown, type Pipeline } from './env.js';
import { CFG, STARTED, args, deadline, log, quick } from './options.js';
import { Phase } from './phase.js';
import { summarise } from './summary.js';

/** Idle measurement per phase, in seconds. */
const IDLE_SECONDS = quick ? 3 : 10;

async function main(): Promise<void> {
  setChildLifetime(CFG.maxMinutes * 60 + 300);
  const hardStop = setTimeout(() => {
    log('time budget exceeded: stopping everything');
    stopAll();
    process.exit(2);
  }, CFG.maxMinutes * 60_000 + 120_000);
  hardStop.unref();
  const report: Record<string, unknown> = { ...reportHeader('views'), config: CFG };
  const pipelines: Pipeline[] = [];
  const phases: Phase[] = [];
  try {
    const grants = seedGrants(CFG.seed, CFG.rows, CFG.descriptionChars);
    const searches = savedSearches(CFG.seed + 1, CFG.filters, grants);
    log(`catalogue of ${grants.length} grants; ${searches.length} saved searches`);
    report.setup = {
      catalogue: `${grants.length} seeded grants (corpus.ts), ${CFG.descriptionChars}-character descriptions`,
      savedSearches: { count: searches.length, acceptedShareOfCatalogue: SELECTIVITY, maxTopicChars: MAX_TOPIC_CHARS, examples: searches.slice(0, 8) },
      clients: `${CFG.clients} per phase over ${CFG.procs} load processes each (raw frame walkers; ${CFG.samplersPerProc} ws samplers per process)`,
      deployment: 'per phase: private nats-server, fresh database, src/main.ts ROLES=relay and src/main.ts ROLES=gateway as separate processes, APP_ENV=production',
      commits: 'single-row UPDATEs moving filter fields (changes.ts), the same seeded sequence in both phases, exactly rate x step-seconds per step, 16-connection pool, commit time = when the UPDATE answered',
      bytes: 'TCP bytes the clients read during the window (frames, their headers, pings)',
    };
    pipelines.push(...(await setUpTwo(CFG.pgUrl, grants, CFG.seed + 2)));
    log('pipelines ready');
    // Both phases' gateways and clients start at once (nothing is measured yet).
    const opened = await Promise.allSettled([Phase.open('grants', pipelines[0]!, ['grants'], 2), Phase.open('views', pipelines[1]!, searches.map((s) => s.topic), 2 + CFG.procs)]);
    for (const o of opened) if (o.status === 'fulfilled') phases.push(o.value);
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
    for (const p of phases) await p.measureIdle(IDLE_SECONDS);
    let stoppedBecause = 'all steps run';
    steps: for (let r = 0; r < CFG.rounds; r++) {
      for (const rate of CFG.rates) {
        if (now() > deadline - 120_000) {
          stoppedBecause = 'time budget';
          break steps;
        }
        // Both phases commit the same changes at each (round, rate): their sequences stay in step.
        for (const p of r % 2 === 0 ? phases : [...phases].reverse()) await p.step(rate, rate * CFG.stepSeconds, r + 1);
      }
    }
    for (const rate of stoppedBecause === 'all steps run' ? CFG.finalRates : []) {
      if (now() > deadline - 120_000) {
        stoppedBecause = 'time budget';
        break;
      }
      for (const p of [...phases].reverse()) await p.step(rate, rate * CFG.stepSeconds, CFG.rounds + 1);
    }
    report.phases = Object.fromEntries(phases.map((p) => [p.name, { connect: p.connect, idle: p.idle, steps: p.steps }]));
    report.summary = summarise(
      phases.flatMap((p) => p.steps),
      { grants: phases[0]!.idle?.gatewayCores ?? 0, views: phases[1]!.idle?.gatewayCores ?? 0 },
      [...CFG.rates, ...CFG.finalRates],
      searches,
    );
    report.stoppedBecause = stoppedBecause;
  } catch (err) {
    report.error = { message: (err as Error).message };
    log(`failed: ${(err as Error).stack}`);
  } finally {
    for (const p of phases) await p.close().catch(() => undefined);
    for (const p of pipelines) await tearDown(p, log);
    stopAll();
  }
  report.seconds = round((now() - STARTED) / 1000, 0);
  writeReport(report, quick ? 'views-quick' : 'views', args.out);
  process.exit(report.error ? 1 : 0);
}

runBench('views', main);
