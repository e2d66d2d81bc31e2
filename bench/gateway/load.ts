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
 * GRANT_FRAME_MIN bytes). Only the first `samplers` clients decode them: they note
 * `<id>/<version>` and the receive time of each, and check that `seq` strictly rises.
 * The samplers are `ws` clients by default (a real client library's parse and dispatch
 * is in the latency); the counting clients are the raw frame walkers of wire.ts by
 * default, several times cheaper per message (see wire.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { RawClient, GRANT_FRAME_MIN, type Target } from './wire.js';

export type ClientKind = 'raw' | 'ws';

export interface ConnectCommand {
  cmd: 'connect';
  target: Target;
  port: number;
  localAddress: string;
  count: number;
  subscribe: boolean;
  samplers: number;
  concurrency: number;
  client: ClientKind;
  /** The sampling clients' kind (they decode and time every grant frame). */
  samplerClient: ClientKind;
  secret: string;
  subPrefix: string;
  timeoutMs: number;
}

export interface HandshakeCommand {
  cmd: 'handshakes';
  target: Target;
  port: number;
  localAddress: string;
  concurrency: number;
  seconds: number;
  secret: string;
  subPrefix: string;
}

export type Command =
  | ConnectCommand
  | HandshakeCommand
  | { cmd: 'mark' }
  | { cmd: 'snapshot' }
  | { cmd: 'latency'; commits: [string, number][] }
  | { cmd: 'closeClients' }
  | { cmd: 'close' };

export interface ConnectReply {
  type: 'connect';
  ready: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

export interface SnapshotReply {
  type: 'snapshot';
  frames: number;
  perClientMin: number;
  perClientMax: number;
  open: number;
  closes: Record<string, number>;
  cpuMs: number;
  loopDelayP99Ms: number;
  rssBytes: number;
}

export interface LatencyReply {
  type: 'latency';
  latencies: number[];
  unmatched: number;
  seqErrors: number;
}

export interface HandshakeReply {
  type: 'handshakes';
  done: number;
  failed: number;
  errors: Record<string, number>;
  latencies: number[];
  cpuMs: number;
}

const now = () => performance.timeOrigin + performance.now();
const SAMPLE_RE = /"seq":(\d+),"op":"[a-z]+","id":"([0-9a-f-]{36})","version":(\d+)/;

async function signTokens(secret: string, prefix: string, count: number): Promise<string[]> {
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 4 * 3600;
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(await new SignJWT({ role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(`${prefix}-${i}`).setExpirationTime(exp).sign(key));
  return tokens;
}

const pathOf = (target: Target) => (target === 'gateway' ? '/v1/live' : target === 'socketio' ? '/socket.io/?EIO=4&transport=websocket' : '/');
const SUBSCRIBE: Record<Target, string> = {
  gateway: '{"type":"subscribe","topic":"grants"}',
  bare: '{"type":"subscribe","topic":"grants"}',
  socketio: '42["subscribe","grants"]',
};

/** One client: the target's opening dance, then counting. */
class Client {
  state: 'opening' | 'welcomed' | 'ready' | 'closed' = 'opening';
  stepFrames = 0;
  lastSeq = 0;
  seqErrors = 0;
  private raw: RawClient | undefined;
  private ws: WebSocket | undefined;

  constructor(
    private readonly target: Target,
    port: number,
    localAddress: string,
    private readonly token: string,
    private readonly subscribe: boolean,
    private readonly sampler: ((prefix: string, client: Client) => void) | undefined,
    kind: ClientKind,
    private readonly events: { ready: (c: Client) => void; welcomed?: (c: Client) => void; closed: (c: Client, code: number | undefined, err?: Error) => void },
  ) {
    const headers: Record<string, string> = target === 'gateway' ? { Authorization: `Bearer ${token}` } : {};
    if (kind === 'raw') {
      this.raw = new RawClient({
        host: '127.0.0.1',
        port,
        localAddress,
        path: pathOf(target),
        headers,
        sample: sampler !== undefined,
        onOpen: () => undefined,
        onText: (text) => this.onText(text),
        onGrant: (prefix) => this.onGrant(prefix),
        onClose: (code, err) => this.onClose(code, err),
      });
    } else {
      this.ws = new WebSocket(`ws://127.0.0.1:${port}${pathOf(target)}`, { localAddress, headers, perMessageDeflate: false });
      this.ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        if (data.length >= GRANT_FRAME_MIN) this.onGrant(this.sampler ? data.toString('latin1', 0, 200) : undefined);
        else this.onText(data.toString('utf8'));
      });
      this.ws.on('close', (code) => this.onClose(code));
      this.ws.on('error', (err) => this.onClose(undefined, err));
    }
  }

  private send(text: string): void {
    if (this.raw) this.raw.sendText(text);
    else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close(): void {
    if (this.raw) this.raw.close();
    else this.ws?.close(1000);
  }

  destroy(): void {
    if (this.raw) this.raw.destroy();
    else this.ws?.terminate();
  }

  private welcomed(): void {
    this.state = 'welcomed';
    this.events.welcomed?.(this);
    if ((this.state as Client['state']) !== 'welcomed') return; // closed by the handler
    if (this.subscribe) this.send(SUBSCRIBE[this.target]);
    else this.ready();
  }

  private ready(): void {
    this.state = 'ready';
    this.events.ready(this);
  }

  private onText(text: string): void {
    if (this.target === 'socketio') {
      if (text === '2') return this.send('3');
      if (text.startsWith('0{')) return this.send(`40${JSON.stringify({ token: this.token })}`);
      if (text.startsWith('40') && this.state === 'opening') return this.welcomed();
      if (text.startsWith('42["subscribed"') && this.state === 'welcomed') return this.ready();
      if (text.startsWith('44')) {
        this.destroy();
        return this.onClose(undefined, new Error(`socket.io connect_error ${text.slice(0, 80)}`));
      }
      return;
    }
    if (this.state === 'opening' && text.includes('"type":"welcome"')) return this.welcomed();
    if (this.state === 'welcomed' && text.includes('"type":"subscribed"')) return this.ready();
  }

  private onGrant(prefix: string | undefined): void {
    this.stepFrames++;
    if (prefix !== undefined && this.sampler) this.sampler(prefix, this);
  }

  private onClose(code: number | undefined, err?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.events.closed(this, code, err);
  }
}

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
        const client = new Client(c.target, c.port, c.localAddress, tokens[index] ?? '', c.subscribe, index < c.samplers ? sample : undefined, index < c.samplers ? c.samplerClient : c.client, {
          ready: () => settle(true),
          closed: (_client, code, err) => {
            const key = err ? err.message.slice(0, 80) : `close ${code ?? 'none'}`;
            if (!settled) settle(false, key);
            else closes[key] = (closes[key] ?? 0) + 1;
          },
        });
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
  for (const c of clients) {
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
        for (const c of clients) c.stepFrames = 0;
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
