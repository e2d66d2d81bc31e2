/**
 * A private nats-server with JetStream per test, on a free port, with its own store, so
 * a test can stop and restart it (pattern of nats.js's own test launcher).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { start, type Child } from './process.js';

export class PrivateNats {
  private child: Child | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'navimpact-nats-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateNats> {
    const nats = new PrivateNats(await freePort());
    await nats.up();
    return nats;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.running ? this.child.proc.pid : undefined;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    this.child = start('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir]);
    await this.child.waitFor((l) => l.includes('Server is ready'), 20_000, 'nats-server ready');
  }

  async down(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.child?.kill(signal);
  }

  async restart(): Promise<void> {
    await this.down();
    await this.up();
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
