/**
 * A private redis-server per test, on a free port, with its own directory, so a test can
 * stop and start it. With `persist`, it keeps an append-only file fsynced on every write, so
 * what it held before a stop is there again after the start (the case where stale entries
 * could come back).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { start, type Child } from './process.js';

export class PrivateRedis {
  private child: Child | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'navimpact-redis-'));

  private constructor(
    readonly port: number,
    private readonly persist: boolean,
  ) {}

  static async start(options: { persist?: boolean } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options.persist ?? false);
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const persistence = this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    this.child = start('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', ...persistence]);
    await this.child.waitFor((l) => l.includes('Ready to accept connections'), 20_000, 'redis-server ready');
  }

  async down(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
