/**
 * Child processes of a bench: started under coreutils `timeout` so they end by themselves,
 * their output lines watched, and every live one ended by `stopAll`.
 *
 * # Lifecycle
 * Every child process is started under coreutils `timeout`, so it ends by itself even if
 * the orchestrator dies; `stopAll` ends the live ones on every exit path of a run.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_ARGS } from '../../test/support/service.js';

/** `npm start`'s Node options (test/support/service.ts reads them from package.json). */
export { SERVICE_NODE_ARGS };

/** The repository's root (where `npm run` runs and `src/main.ts` is found). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Longest any child may live, in seconds (each run of the bench is far shorter). */
export let childLifetimeSec = 3_600;
export function setChildLifetime(seconds: number): void {
  childLifetimeSec = seconds;
}

const live = new Set<ChildProcess>();
/** Last output lines a Proc keeps (`recent`). */
const RECENT_LINES = 200;

/** Counts `child` among the live children `stopAll` ends, until it exits. */
export function adopt(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

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
  /** The first output lines (up to 2,000). */
  readonly lines: string[] = [];
  /** The last output lines (up to RECENT_LINES). */
  readonly recent: string[] = [];
  private watchers: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  private listeners: ((line: string) => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    adopt(child);
    let rest = '';
    const onChunk = (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        if (this.lines.length < 2_000) this.lines.push(line);
        if (this.recent.push(line) > RECENT_LINES) this.recent.shift();
        for (const l of this.listeners) l(line);
        for (const w of [...this.watchers]) if (w.test(line)) (this.watchers.splice(this.watchers.indexOf(w), 1), w.resolve(line));
      }
    };
    child.stdout?.on('data', onChunk);
    child.stderr?.on('data', onChunk);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Calls `listener` with every line written from now on. */
  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
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

/** Node arguments that make a process write V8 CPU profiles into `dir/<name>/` when it exits; none without `dir` (a bench's `--cpu-prof DIR`). */
export function cpuProfArgs(dir: string | undefined, name: string): string[] {
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`] : [];
}

/**
 * A TypeScript entry point run by node with tsx, under `timeout`. The service
 * (`src/main.ts`) gets `npm start`'s Node options first.
 */
export function startTs(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = []): Proc {
  const service = script === 'src/main.ts' ? SERVICE_NODE_ARGS : [];
  return startProc(name, process.execPath, [...service, ...nodeArgs, '--import', 'tsx', script], env);
}

/**
 * Runs a bench's `main`: SIGINT/SIGTERM and a failure stop every child process first
 * (exit 130 and 1); `main` ends the process itself when it is done.
 */
export function runBench(name: string, main: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      stopAll();
      process.exit(130);
    });
  main().catch((err: unknown) => {
    process.stderr.write(`bench/${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    stopAll();
    process.exit(1);
  });
}
