/**
 * What the gateway bench runs on: a private nats-server, a fresh database on the shared
 * Postgres, child processes that stop by themselves, load processes spoken to over IPC,
 * and CPU and memory readings from /proc.
 *
 * # Lifecycle
 * Every child process is started under coreutils `timeout`, so it ends by itself even if
 * the orchestrator dies; `stopAll` ends the live ones on every exit path of run.ts.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import WebSocket from 'ws';
import type { Command } from './load.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Longest any child may live, in seconds (each run of the bench is far shorter). */
export let childLifetimeSec = 3_600;
export function setChildLifetime(seconds: number): void {
  childLifetimeSec = seconds;
}

const live = new Set<ChildProcess>();

export function stopAll(): void {
  for (const child of live) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // `timeout` runs in a process group of its own (it calls setpgid), with the server in it:
    // SIGKILL to the group, since a SIGKILLed `timeout` cannot pass the signal on.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  live.clear();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.timeOrigin + performance.now();

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A child started under `timeout`, its output lines watched. `pid` is the real process's. */
export class Proc {
  readonly lines: string[] = [];
  private watchers: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    let rest = '';
    const onChunk = (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        if (this.lines.length < 2_000) this.lines.push(line);
        for (const w of [...this.watchers]) if (w.test(line)) (this.watchers.splice(this.watchers.indexOf(w), 1), w.resolve(line));
      }
    };
    child.stdout?.on('data', onChunk);
    child.stderr?.on('data', onChunk);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        live.delete(child);
        resolve(code);
      }),
    );
  }

  waitFor(test: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting; last output:\n${this.lines.slice(-20).join('\n')}`)), timeoutMs);
      const w = { test, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
      this.watchers.push(w);
      void this.exited.then((code) => {
        if (!this.watchers.includes(w)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) while waited for; last output:\n${this.lines.slice(-20).join('\n')}`));
      });
    });
  }

  /** The pid of the command `timeout` runs (its only child). */
  realPid(): number {
    const pid = this.child.pid!;
    for (let i = 0; i < 100; i++) {
      try {
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
        if (children) return Number(children.split(' ')[0]);
      } catch {
        /* not yet */
      }
    }
    return pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}

export function startProc(name: string, command: string, args: string[], env: Record<string, string>, cwd = ROOT): Proc {
  const child = spawn('timeout', ['-k', '5', String(childLifetimeSec), command, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(name, child);
}

export function startTs(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = []): Proc {
  return startProc(name, process.execPath, [...nodeArgs, '--import', 'tsx', script], env);
}

export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * The V8 inspector of a server started with `--inspect=127.0.0.1:0`: the same way into
 * every Node server of the bench (the gateway included, unmodified) to run a full GC and
 * read `process.memoryUsage()`.
 */
export class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) this.pending.get(m.id)?.(m.result ?? m.error);
      if (m.id !== undefined) this.pending.delete(m.id);
    });
  }

  static async attach(proc: Proc): Promise<Inspector> {
    const line = await proc.waitFor((l) => l.includes('Debugger listening on ws://'), 30_000);
    const url = /ws:\/\/\S+/.exec(line)![0];
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  call(method: string, params: object = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 60_000);
      this.pending.set(id, (r) => (clearTimeout(timer), resolve(r)));
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Full GC (twice, so weak callbacks run), then `process.memoryUsage()` of the server. */
  async gcAndMemory(): Promise<MemoryUsage> {
    await this.call('HeapProfiler.enable');
    await this.call('HeapProfiler.collectGarbage');
    await sleep(200);
    await this.call('HeapProfiler.collectGarbage');
    const r = (await this.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(r.result.value) as MemoryUsage;
  }

  close(): void {
    this.ws.close();
  }
}

// --- NATS ---------------------------------------------------------------------------------

export class PrivateNats {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    private readonly store: string,
  ) {}

  static async start(): Promise<PrivateNats> {
    const port = await freePort();
    const store = mkdtempSync(join(tmpdir(), 'bench-gateway-nats-'));
    const proc = startProc('nats-server', 'nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], {});
    await proc.waitFor((l) => l.includes('Server is ready'), 20_000);
    return new PrivateNats(proc, port, store);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.proc.stop();
    rmSync(this.store, { recursive: true, force: true });
  }
}

// --- Postgres -----------------------------------------------------------------------------

export class BenchDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly serverUrl: string,
  ) {}

  static async create(serverUrl: string): Promise<BenchDatabase> {
    const name = `bench_gateway_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await sql(serverUrl, `CREATE DATABASE ${name}`);
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    return new BenchDatabase(name, u.toString(), serverUrl);
  }

  async drop(): Promise<void> {
    await sql(this.serverUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

export async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

// --- /proc readings -----------------------------------------------------------------------

const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU seconds of every process whose command is `name` (e.g. all Postgres backends). */
export function cpuSecondsByName(name: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== name) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; total: number; softirq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, softirq: (v[6] ?? 0) / CLK_TCK };
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kb * 1024;
}

/** Snapshots CPU counters of named processes and the machine; `since` gives cores used. */
export class CpuMeter {
  private start = new Map<string, number>();
  private machineStart = machineCpu();
  private t0 = now();

  constructor(private readonly pids: () => Record<string, number | undefined>) {
    this.reset();
  }

  reset(): void {
    this.start = new Map(Object.entries(this.readAll()));
    this.machineStart = machineCpu();
    this.t0 = now();
  }

  private readAll(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) if (pid !== undefined) out[name] = cpuSeconds(pid);
    out.postgres = cpuSecondsByName('postgres');
    return out;
  }

  /**
   * Cores used by each process since the reset (1.0 = one core busy), and by the machine;
   * softirq is the kernel's packet processing, which no process is charged for.
   */
  read(): { seconds: number; cores: Record<string, number>; machineBusyCores: number; machineSoftirqCores: number; machineCores: number } {
    const seconds = (now() - this.t0) / 1000;
    const cores: Record<string, number> = {};
    for (const [name, value] of Object.entries(this.readAll())) cores[name] = round((value - (this.start.get(name) ?? value)) / seconds, 2);
    const m = machineCpu();
    return {
      seconds: round(seconds, 2),
      cores,
      machineBusyCores: round((m.busy - this.machineStart.busy) / seconds, 2),
      machineSoftirqCores: round((m.softirq - this.machineStart.softirq) / seconds, 2),
      machineCores: round((m.total - this.machineStart.total) / seconds, 2),
    };
  }
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// --- load processes -----------------------------------------------------------------------

/** A load process (load.ts), one request at a time over IPC. */
export class LoadProcess {
  private queue: ((message: unknown) => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly index: number,
    readonly localAddress: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    child.on('message', (m) => this.queue.shift()?.(m));
    child.stderr?.on('data', (c: Buffer) => process.stderr.write(`[load ${index}] ${c.toString()}`));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        live.delete(child);
        resolve(code);
      }),
    );
  }

  static start(index: number, localAddress: string): LoadProcess {
    const child = fork(join(HERE, 'load.ts'), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    return new LoadProcess(index, localAddress, child);
  }

  request<T>(command: Command, timeoutMs = 120_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load ${this.index}: no answer to ${command.cmd} in ${timeoutMs} ms`)), timeoutMs);
      this.queue.push((m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      this.child.send(command);
    });
  }

  cpuSeconds(): number {
    return cpuSeconds(this.child.pid!);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.request({ cmd: 'close' }, 10_000).catch(() => undefined);
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(killer);
  }
}

/**
 * Waits (at most `maxMs`) until the machine is quiet apart from us (other sessions' tests
 * share it): fewer than `busyCores` cores busy over one second. Returns the last reading.
 */
export async function waitQuiet(maxMs: number, busyCores: number): Promise<number> {
  const until = now() + maxMs;
  let busy = 0;
  do {
    const m0 = machineCpu();
    await sleep(1_000);
    const m1 = machineCpu();
    busy = (m1.busy - m0.busy) / ((m1.total - m0.total) / cpus().length);
    if (busy < busyCores) break;
  } while (now() < until);
  return round(busy, 2);
}
