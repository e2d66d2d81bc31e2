/**
 * Every process the REST bench starts beside its own: the load processes (load.ts), the
 * private redis-servers, and the servers measured; and the one way they all end.
 *
 * # Lifecycle
 * Each server, redis-server and nats-server runs under `timeout` (common/processes.ts) and is
 * listed in `children`; `killChildren` is on every exit path of run.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuProfArgs, startTs, stopAll, type Proc } from '../common/processes.js';
import { PrivateRedis } from '../common/redis.js';
import type { Command } from './load.js';
import { args } from './options.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export const loads: LoadProc[] = [];
/**
 * Every server, redis-server and nats-server started, and the directories they use. Each
 * runs under `timeout`, and a SIGKILL to `timeout` cannot reach its child: every exit path
 * ends the children themselves, by pid, before `stopAll` ends the wrappers.
 */
export const children: Proc[] = [];
export const dirs: string[] = [];

/** Ends the load processes, every child (by its real pid) and its `timeout` wrapper; removes the directories. */
export function killChildren(): void {
  for (const l of loads) l.kill();
  for (const proc of children) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    const pid = proc.realPid();
    try {
      if (pid !== proc.child.pid) process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

/** A load process (load.ts), one request at a time over IPC; a reply with `error` rejects. */
export class LoadProc {
  private queue: ((m: unknown) => void)[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m) => this.queue.shift()?.(m));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(index: number): LoadProc {
    const child = fork(join(HERE, 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p = new LoadProc(index, child);
    loads.push(p);
    return p;
  }

  request<T>(command: Command, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load ${this.index}: no answer to ${command.cmd} in ${timeoutMs} ms`)), timeoutMs);
      this.queue.push((m) => {
        clearTimeout(timer);
        const err = (m as { error?: string }).error;
        if (err) reject(new Error(`load ${this.index}: ${err}`));
        else resolve(m as T);
      });
      this.child.send(command);
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A private redis-server of one target (its INFO commandstats are that target's), ended on every exit path. */
export async function privateRedis(name: string): Promise<PrivateRedis> {
  const redis = await PrivateRedis.start(name);
  children.push(redis.proc);
  dirs.push(redis.dir);
  return redis;
}

/** A measured server: its process, port, real pid, and the redis-server it reads from, if any. */
export interface Server {
  name: string;
  proc: Proc;
  port: number;
  pid: number;
  redis?: PrivateRedis;
}

/** Starts a server (under tsx) and waits for its `ready` log code, which carries its port. */
export async function startServer(name: string, script: string, env: Record<string, string>, ready = 'BenchListening'): Promise<Server> {
  // --cpu-prof: each server writes V8 CPU profiles (one per thread: tsx's loader has one) when it exits (stopped with SIGTERM).
  const nodeArgs = cpuProfArgs(args['cpu-prof'], name);
  if (name === 'gateway' && args['gateway-node-args']) nodeArgs.push(...args['gateway-node-args'].split(' ').filter(Boolean));
  const proc = startTs(name, script, env, nodeArgs);
  children.push(proc);
  const line = await proc.waitFor((l) => l.includes(`"code":"${ready}"`), 60_000);
  return { name, proc, port: (JSON.parse(line) as { port: number }).port, pid: proc.realPid() };
}
