import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/** A child process whose output lines can be awaited. */
export class Child {
  readonly lines: string[] = [];
  private readonly waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the process has exited and every line of its output is in `lines` ('exit' can come first). */
  readonly closed: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    const collect = (stream: NodeJS.ReadableStream | null) => {
      let rest = '';
      const push = (line: string) => {
        if (!line) return;
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      };
      stream?.on('data', (chunk: Buffer) => {
        // A line may arrive in several chunks: keep the unfinished tail for the next one.
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        parts.forEach(push);
      });
      stream?.on('end', () => push(rest));
    };
    collect(proc.stdout);
    collect(proc.stderr);
    this.exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    this.closed = once(proc, 'close').then(() => undefined);
  }

  /** Resolves with the first line (already seen or to come) that passes `test`. */
  waitFor(test: (line: string) => boolean, timeoutMs = 20_000, what = 'line'): Promise<string> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output:\n${this.lines.slice(-30).join('\n')}`)), timeoutMs);
      const waiter = {
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        if (!this.waiters.includes(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`process exited (${code ?? signal}) while waiting for ${what}; output:\n${this.lines.slice(-30).join('\n')}`));
      });
    });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.proc.kill(signal);
    await this.exited;
  }
}

export function start(command: string, args: string[], options: SpawnOptions = {}): Child {
  return new Child(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
}
