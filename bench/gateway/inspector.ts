/** How the memory phase reaches into a server: its V8 inspector. */
import WebSocket from 'ws';
import type { Proc } from '../common/processes.js';
import { sleep } from '../common/time.js';

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

  /**
   * `process.memoryUsage()` and the committed size of each V8 heap space (MB), without a GC:
   * where the RSS that the held readings see sits (the young generation, the old, or outside
   * the JS heap).
   */
  async memoryBySpace(): Promise<MemoryUsage & { spacesMB: Record<string, number> }> {
    const expression =
      "JSON.stringify({ ...process.memoryUsage(), spacesMB: Object.fromEntries(require('v8').getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_size / 2 ** 16) / 16])) })";
    const r = (await this.call('Runtime.evaluate', { expression, returnByValue: true, includeCommandLineAPI: true })) as { result: { value: string } };
    return JSON.parse(r.result.value) as MemoryUsage & { spacesMB: Record<string, number> };
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
