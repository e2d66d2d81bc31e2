/**
 * The orchestrator's side of the load processes (load.ts), free of any bench's command line:
 * starting them on their source addresses, one request at a time over IPC, opening clients
 * spread over them, and reading their counters. The gateway bench reaches these through
 * load-process.ts (which adds its own flags); the views bench (bench/views) uses them
 * directly, since load-process.ts imports the gateway bench's options, which parse argv.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adopt } from '../common/processes.js';
import { cpuSeconds } from '../common/procfs.js';
import type { Command, ConnectCommand, ConnectReply, SnapshotReply } from './load-protocol.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** A load process (load.ts), one request at a time over IPC. */
export class LoadProcess {
  private queue: ((message: unknown) => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly index: number,
    readonly localAddress: string,
    readonly child: ChildProcess,
  ) {
    adopt(child);
    child.on('message', (m) => this.queue.shift()?.(m));
    child.stderr?.on('data', (c: Buffer) => process.stderr.write(`[load ${index}] ${c.toString()}`));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** `script`: the load program (default this bench's load.ts; bench/storm passes its SDK one). */
  static start(index: number, localAddress: string, script = join(HERE, 'load.ts')): LoadProcess {
    const child = fork(script, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    return new LoadProcess(index, localAddress, child);
  }

  /** `C`: the program's commands (load-protocol.ts for load.ts; others name their own). */
  request<T, C extends { cmd: string } = Command>(command: C, timeoutMs = 120_000): Promise<T> {
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

/** `count` load processes on source addresses 127.0.0.<first>, <first + 1>, ... */
export function startLoads(count: number, first = 2, script?: string): LoadProcess[] {
  return Array.from({ length: count }, (_, i) => LoadProcess.start(i, `127.0.0.${first + i}`, script));
}

/** Splits n over k processes. */
export const share = (n: number, k: number, i: number) => Math.floor(n / k) + (i < n % k ? 1 : 0);

/** What every load process is told alike when opening clients; `perLoad` adds what differs. */
export type ConnectBase = Omit<ConnectCommand, 'cmd' | 'localAddress' | 'count' | 'subPrefix'>;

/**
 * Opens `total` clients spread over the load processes; sums their replies. `perLoad` may
 * give a process its own fields (the views bench hands each a rotated list of topics).
 */
export async function connectSpread(loads: LoadProcess[], total: number, base: ConnectBase, perLoad: (load: LoadProcess) => Partial<ConnectCommand> = () => ({})) {
  const replies = await Promise.all(
    loads.map((l) =>
      l.request<ConnectReply>(
        {
          cmd: 'connect',
          ...base,
          localAddress: l.localAddress,
          count: share(total, loads.length, l.index),
          subPrefix: `bench-${base.target}-${l.index}-${Date.now()}`,
          ...perLoad(l),
        },
        base.timeoutMs + 20_000,
      ),
    ),
  );
  const errors: Record<string, number> = {};
  for (const r of replies) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { ready: replies.reduce((s, r) => s + r.ready, 0), failed: replies.reduce((s, r) => s + r.failed, 0), ms: Math.max(...replies.map((r) => r.ms)), errors };
}

export const snapshots = (loads: LoadProcess[]) => Promise.all(loads.map((l) => l.request<SnapshotReply>({ cmd: 'snapshot' })));
