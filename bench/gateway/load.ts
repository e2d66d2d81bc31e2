/**
 * A load process: holds a share of the bench's clients, all from one source address, and
 * answers the orchestrator (run.ts) over IPC. Several run at once, so the clients use more
 * than one core and stay under the per-process open-file limit.
 *
 * Commands (one reply each): `connect`, `mark` (start a measuring window), `snapshot`
 * (counts since the mark, CPU, event-loop delay), `latency` (joins the samplers' receive
 * times with the commit times it is sent), `handshakes` (connect-welcome-close loops for
 * a bounded time), `closeClients` (close them, stay up), `close` (close them and exit).
 *
 * # Counting
 * Every client counts the grant frames it receives (a text frame of at least
 * GRANT_FRAME_MIN bytes) and the bytes it reads off its socket. Only the first `samplers` clients decode them: they note
 * `<id>/<version>` and the receive time of each, and check that `seq` strictly rises.
 * The samplers are `ws` clients by default (a real client library's parse and dispatch
 * is in the latency); the counting clients are the raw frame walkers of wire.ts by
 * default, several times cheaper per message (see wire.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { now } from '../common/time.js';
import { Client, signTokens } from './load-client.js';
import type { Command, ConnectCommand, ConnectReply, HandshakeCommand, HandshakeReply, LatencyReply, SnapshotReply } from './load-protocol.js';

const SAMPLE_RE = /"seq":(\d+),"op":"[a-z]+","id":"([0-9a-f-]{36})","version":(\d+)/;

let clients: Client[] = [];
const closes: Record<string, number> = {};
const samples = { keys: [] as string[], times: [] as number[] };
let seqErrors = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
let cpuAtMark = process.cpuUsage();

function reply(message: object): void {
  process.send!(message);
}

function sample(prefix: string, client: Client): void {
  const t = now();
  const m = SAMPLE_RE.exec(prefix);
  if (!m) {
    seqErrors++;
    return;
  }
  const seq = Number(m[1]);
  if (seq <= client.lastSeq) {
    client.seqErrors++;
    seqErrors++;
  }
  client.lastSeq = seq;
  samples.keys.push(`${m[2]}/${m[3]}`);
  samples.times.push(t);
}

async function connectAll(c: ConnectCommand): Promise<ConnectReply> {
  const started = now();
  const tokens = c.target === 'bare' ? [] : await signTokens(c.secret, c.subPrefix, c.count);
  const errors: Record<string, number> = {};
  let ready = 0;
  let failed = 0;
  let next = 0;
  let inFlight = 0;
  return new Promise<ConnectReply>((resolve) => {
    const deadline = setTimeout(() => finish(), c.timeoutMs);
    const finish = () => {
      clearTimeout(deadline);
      resolve({ type: 'connect', ready, failed: c.count - ready, errors, ms: Math.round(now() - started) });
    };
    const launch = () => {
      while (inFlight < c.concurrency && next < c.count) {
        const index = next++;
        inFlight++;
        let settled = false;
        const settle = (ok: boolean, why?: string) => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (ok) ready++;
          else {
            failed++;
            errors[why!] = (errors[why!] ?? 0) + 1;
          }
          if (ready + failed === c.count) finish();
          else setImmediate(launch);
        };
        const topic = c.topics?.length ? c.topics[index % c.topics.length] : undefined;
        const client = new Client(
          c.target,
          c.port,
          c.localAddress,
          tokens[index] ?? '',
          c.subscribe,
          index < c.samplers ? sample : undefined,
          index < c.samplers ? c.samplerClient : c.client,
          {
            ready: () => settle(true),
            closed: (_client, code, err) => {
              const key = err ? err.message.slice(0, 80) : `close ${code ?? 'none'}`;
              if (!settled) settle(false, key);
              else closes[key] = (closes[key] ?? 0) + 1;
            },
          },
          topic,
        );
        clients.push(client);
      }
    };
    launch();
  });
}

async function handshakes(c: HandshakeCommand): Promise<HandshakeReply> {
  const tokens = c.target === 'bare' ? [''] : await signTokens(c.secret, c.subPrefix, c.concurrency);
  const cpu0 = process.cpuUsage();
  const deadline = now() + c.seconds * 1000;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  const loop = (slot: number) =>
    new Promise<void>((resolve) => {
      const once = () => {
        if (now() >= deadline) return resolve();
        const started = now();
        let done = false;
        const client = new Client(c.target, c.port, c.localAddress, tokens[slot % tokens.length]!, false, undefined, 'raw', {
          welcomed: (cl) => {
            done = true;
            latencies.push(now() - started);
            cl.close();
          },
          ready: () => undefined,
          closed: (_cl, code, err) => {
            if (!done) {
              failed++;
              const key = err ? err.message.slice(0, 80) : `close ${code ?? 'none'}`;
              errors[key] = (errors[key] ?? 0) + 1;
            }
            setImmediate(once);
          },
        });
        void client;
      };
      once();
    });
  await Promise.all(Array.from({ length: c.concurrency }, (_, i) => loop(i)));
  const cpu = process.cpuUsage(cpu0);
  return { type: 'handshakes', done: latencies.length, failed, errors, latencies, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function snapshot(): SnapshotReply {
  let frames = 0;
  let min = Infinity;
  let max = 0;
  let open = 0;
  let bytes = 0;
  for (const c of clients) {
    bytes += c.bytesRead() - c.bytesAtMark;
    if (c.state === 'closed') continue;
    open++;
    frames += c.stepFrames;
    if (c.stepFrames < min) min = c.stepFrames;
    if (c.stepFrames > max) max = c.stepFrames;
  }
  const cpu = process.cpuUsage(cpuAtMark);
  return {
    type: 'snapshot',
    frames,
    perClientMin: open ? min : 0,
    perClientMax: max,
    open,
    bytes,
    closes: { ...closes },
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    rssBytes: process.memoryUsage.rss(),
  };
}

function latency(commits: [string, number][]): LatencyReply {
  const at = new Map(commits);
  const latencies: number[] = [];
  let unmatched = 0;
  for (let i = 0; i < samples.keys.length; i++) {
    const t0 = at.get(samples.keys[i]!);
    if (t0 === undefined) unmatched++;
    else latencies.push(Math.round((samples.times[i]! - t0) * 100) / 100);
  }
  const r: LatencyReply = { type: 'latency', latencies, unmatched, seqErrors };
  samples.keys = [];
  samples.times = [];
  seqErrors = 0;
  return r;
}

process.on('message', (message: Command) => {
  void (async () => {
    switch (message.cmd) {
      case 'connect':
        return reply(await connectAll(message));
      case 'handshakes':
        return reply(await handshakes(message));
      case 'mark':
        for (const c of clients) {
          c.stepFrames = 0;
          c.bytesAtMark = c.bytesRead();
        }
        for (const k of Object.keys(closes)) delete closes[k];
        samples.keys = [];
        samples.times = [];
        seqErrors = 0;
        loopDelay.reset();
        cpuAtMark = process.cpuUsage();
        return reply({ type: 'mark' });
      case 'snapshot':
        return reply(snapshot());
      case 'latency':
        return reply(latency(message.commits));
      case 'closeClients': {
        for (const c of clients) c.close();
        clients = [];
        return reply({ type: 'closeClients' });
      }
      case 'close': {
        for (const c of clients) c.close();
        clients = [];
        reply({ type: 'close' });
        // Let the close frames leave, then go.
        setTimeout(() => process.exit(0), 500).unref();
        return;
      }
    }
  })().catch((err: unknown) => {
    process.stderr.write(`load process: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
});

// Never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));
