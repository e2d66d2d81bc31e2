/** A private redis-server (no persistence) on a free port: one bench target's alone. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startProc, type Proc } from './processes.js';

export class PrivateRedis {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    /** Its working directory, removed by `stop`. */
    readonly dir: string,
  ) {}

  static async start(name: string): Promise<PrivateRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
    const proc = startProc(name, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {});
    await proc.waitFor((l) => l.includes('Ready to accept connections'), 20_000);
    return new PrivateRedis(proc, port, dir);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Calls per command so far (INFO commandstats). */
  async commandStats(): Promise<Record<string, number>> {
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    try {
      const text = await r.info('commandstats');
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
      return out;
    } finally {
      r.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.proc.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
