/** A private nats-server (JetStream, file store in a temporary directory) on a free port. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProc, type Proc } from './processes.js';

export class PrivateNats {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    /** The JetStream store directory, removed by `stop`. */
    readonly store: string,
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
