/**
 * A load process of SDK clients (bench/storm and bench/soak): `LiveClient`s of src/client,
 * with the `ws` package's WebSocket bound to this process's source address, each subscribed
 * to `grants`. They reconnect, honour 503 and resume with `since` exactly as a user's would:
 * the bench measures the SDK's behaviour, not a model of it.
 *
 * Per client it checks, on every `grant` event, that `seq` is exactly one more than the
 * last one it saw (a gap or a repeat is counted), counts `recovered:false` reloads, and
 * notes the time of every welcome, every close of its socket (with the close code) and
 * every `subscribed`. While recording, it keeps each frame's commit-to-client latency
 * (now minus the frame's `committedAt`), as live or replayed (committed before the latest
 * `subscribed` of the client).
 *
 * Commands over IPC, one reply each (see sdk-protocol.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { LiveClient } from '../../src/client/index.js';
import { ResumeClient } from './resume-client.js';
import { signTokens } from '../gateway/load-client.js';
import { sleep } from '../common/time.js';
import type { ClientSummary, Command, OpenCommand, Snapshot } from './sdk-protocol.js';

/** The client under test: the SDK's `LiveClient`, or the raw resuming client (resume-client.ts). */
interface Driver {
  readonly state: string;
  close(): unknown;
}

class Tracked {
  driver: Driver;
  /** Seq of the last grant seen; -1 until the first `subscribed`. */
  lastSeq = -1;
  firstSeq = -1;
  frames = 0;
  gaps = 0;
  repeats = 0;
  reloads = 0;
  /** When the latest `subscribed` arrived: frames committed before it were replayed. */
  subscribedAt = 0;
  welcomes: number[] = [];
  subscribes: number[] = [];
  closes: [number, number][] = [];
  live: number[] = [];
  replayed: number[] = [];
  left = false;

  constructor(
    readonly index: number,
    c: OpenCommand,
    token: string,
  ) {
    if (c.kind === 'raw') {
      const client = new ResumeClient(c.port, c.localAddress, token, {
        welcome: () => this.welcomes.push(Date.now()),
        subscribed: (seq, recovered) => this.subscribed(seq, recovered),
        grant: (seq, committedAt) => this.grant(seq, committedAt),
        socketClosed: (code) => this.socketClosed(code),
      });
      client.connect();
      this.driver = client;
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tracked = this;
    const localAddress = c.localAddress;
    class Socket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols ?? [], { localAddress, perMessageDeflate: false });
        this.on('close', (code: number) => tracked.socketClosed(code));
      }
    }
    const client = new LiveClient({ url: `ws://127.0.0.1:${c.port}/v1/live`, token, WebSocket: Socket, transport: 'websocket', reconnect: c.reconnect, connectTimeoutMs: 30_000, onReload: () => void this.reloads++ });
    client.on('welcome', () => this.welcomes.push(Date.now()));
    client.on('subscribed', (f) => this.subscribed(f.seq, f.recovered));
    client.on('grant', (f) => this.grant(f.seq, Date.parse(f.committedAt)));
    client.on('error', () => undefined);
    client.subscribe('grants');
    void client.connect().catch(() => undefined);
    this.driver = client;
  }

  private socketClosed(code: number): void {
    this.closes.push([Date.now(), code]);
    allCloses[code] = (allCloses[code] ?? 0) + 1;
  }

  private subscribed(seq: number, recovered: boolean): void {
    this.subscribes.push(Date.now());
    // The raw client has no reload of its own: `recovered:false` is counted as one.
    if (!recovered && this.lastSeq >= 0 && this.driver instanceof ResumeClient) this.reloads++;
    if (this.lastSeq < 0) this.lastSeq = this.firstSeq = seq;
    this.subscribedAt = Date.now();
  }

  private grant(seq: number, committedAt: number): void {
    const t = Date.now();
    this.frames++;
    if (this.lastSeq >= 0 && seq !== this.lastSeq + 1) {
      if (seq <= this.lastSeq) this.repeats++;
      else this.gaps++;
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
    // Replayed: committed before the client's latest `subscribed` (the gateway answers a
    // resume with seq = since, so the seq cannot tell).
    if (recording) (committedAt < this.subscribedAt ? this.replayed : this.live).push(t - committedAt);
  }
}

let clients: Tracked[] = [];
/** Socket closes by code since the process started. */
const allCloses: Record<number, number> = {};
/** Clients that left (soak): their summaries, kept for the final check. */
const departed: ClientSummary[] = [];
let recording = false;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let opened = 0;
let open: OpenCommand | undefined;
let tokens: string[] = [];

function summary(t: Tracked): ClientSummary {
  return { index: t.index, firstSeq: t.firstSeq, lastSeq: t.lastSeq, frames: t.frames, gaps: t.gaps, repeats: t.repeats, reloads: t.reloads, state: t.driver.state as ClientSummary['state'] };
}

/** Opens `count` more clients at `perSecond`; resolves once each has been answered `subscribed` (or the timeout). */
async function openClients(count: number, perSecond: number, timeoutMs: number): Promise<number> {
  const c = open!;
  if (tokens.length < opened + count) tokens.push(...(await signTokens(c.secret, `${c.subPrefix}-${tokens.length}`, opened + count - tokens.length)));
  const fresh: Tracked[] = [];
  const gapMs = 1000 / perSecond;
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + i * gapMs;
    if (due > Date.now()) await sleep(due - Date.now());
    const t = new Tracked(opened, c, tokens[opened]!);
    opened++;
    fresh.push(t);
    clients.push(t);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && fresh.some((t) => t.subscribes.length === 0)) await sleep(100);
  return fresh.filter((t) => t.subscribes.length > 0).length;
}

function snapshot(target: number): Snapshot {
  let behind = 0;
  let minSeq = Infinity;
  let gaps = 0;
  let repeats = 0;
  let reloads = 0;
  let notOpen = 0;
  for (const t of clients) {
    if (t.lastSeq < target) behind++;
    minSeq = Math.min(minSeq, t.lastSeq);
    gaps += t.gaps;
    repeats += t.repeats;
    reloads += t.reloads;
    if (t.driver.state !== 'open') notOpen++;
  }
  const reply: Snapshot = { type: 'snapshot', clients: clients.length, behind, minSeq: clients.length ? minSeq : NaN, gaps, repeats, reloads, notOpen, closes: { ...allCloses }, rssBytes: process.memoryUsage.rss(), cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6, loopDelayMaxMs: loopDelay.max / 1e6 };
  loopDelay.reset();
  return reply;
}

process.on('message', (message: Command) => {
  void (async () => {
    switch (message.cmd) {
      case 'open':
        open = message;
        return process.send!({ type: 'open', ready: await openClients(message.count, message.perSecond, message.timeoutMs) });
      case 'more':
        return process.send!({ type: 'more', ready: await openClients(message.count, message.perSecond, message.timeoutMs) });
      case 'leave': {
        // The oldest `count` clients leave (close() is final); their summaries are kept.
        const leaving = clients.slice(0, message.count);
        clients = clients.slice(message.count);
        for (const t of leaving) {
          t.left = true;
          departed.push(summary(t));
          await t.driver.close();
        }
        return process.send!({ type: 'leave', left: leaving.length });
      }
      case 'mark':
        for (const t of clients) {
          t.welcomes = [];
          t.subscribes = [];
          t.closes = [];
          t.live = [];
          t.replayed = [];
        }
        recording = message.record;
        return process.send!({ type: 'mark' });
      case 'snapshot':
        return process.send!(snapshot(message.target));
      case 'events':
        recording = false;
        return process.send!({
          type: 'events',
          clients: clients.map((t) => ({ welcomes: t.welcomes, subscribes: t.subscribes, closes: t.closes, live: t.live, replayed: t.replayed, ...summary(t) })),
          departed,
        });
      case 'close':
        await Promise.all(clients.map((t) => t.driver.close()));
        process.send!({ type: 'close' });
        setTimeout(() => process.exit(0), 300).unref();
        return;
    }
  })().catch((err: unknown) => {
    process.stderr.write(`sdk load process: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
});

process.on('disconnect', () => process.exit(0));
