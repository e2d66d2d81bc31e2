/**
 * `--profile`: the gateway's CPU profile over each measured window, taken through its V8
 * inspector (the gateway runs with `--inspect=127.0.0.1:0`, unmodified), and summarised
 * as the functions and files with the most samples. The whole profile is written to the
 * temporary directory for a closer look (Chrome DevTools, speedscope).
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { round } from '../common/stats.js';
import { Inspector } from '../gateway/inspector.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Top entries of a summary. */
const TOP = 15;

export class GatewayProfiler {
  private constructor(private readonly inspector: Inspector) {}

  static async attach(...args: Parameters<typeof Inspector.attach>): Promise<GatewayProfiler> {
    const inspector = await Inspector.attach(...args);
    await inspector.call('Profiler.enable');
    return new GatewayProfiler(inspector);
  }

  async start(): Promise<void> {
    await this.inspector.call('Profiler.start');
  }

  /** Stops the profile; its summary, and where the whole of it was written. */
  async stop(name: string) {
    const { profile } = (await this.inspector.call('Profiler.stop')) as { profile: { nodes: ProfileNode[] } };
    const file = join(tmpdir(), `bench-views-${name}-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return { file, ...summarise(profile.nodes) };
  }

  close(): void {
    this.inspector.close();
  }
}

/** Samples by function (self time) and by file, as shares of all samples. */
export function summarise(nodes: readonly ProfileNode[]) {
  const total = nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url ? url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules)\//, '$1/') : `(${functionName || 'native'})`;
    const fn = `${functionName || '(anonymous)'} ${url ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
  }
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([name, hits]) => ({ name, share: round(hits / total, 3) }));
  return { samples: total, topFunctionsSelf: top(byFunction), topFilesSelf: top(byFile) };
}
