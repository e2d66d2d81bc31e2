/**
 * A private cluster of nats-servers with JetStream, each on free ports (client and route)
 * with its own store, so a test can kill one node and bring it back on the same ports and
 * store (pattern of nats.js's own cluster launcher, and of test/support/nats.ts for one
 * server).
 *
 * # Lifecycle
 * `start(size)` starts every node and resolves once JetStream answers with a metadata
 * leader (a stream with several replicas can be created); `stop()` kills every node and
 * removes the stores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { freePort } from './ports.js';
import { start, type Child } from './process.js';

/** How long the cluster may take to elect its JetStream metadata leader. */
const READY_TIMEOUT_MS = 30_000;
/** Pause between two readiness probes (the server announces no event a client can await). */
const PROBE_INTERVAL_MS = 100;

export class ClusterNode {
  private child: Child | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'navimpact-nats-cluster-'));

  constructor(
    readonly name: string,
    readonly port: number,
    readonly routePort: number,
    private readonly routes: () => string,
    private readonly clusterName: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child?.running ?? false;
  }

  /** Output lines of the current process. */
  get lines(): readonly string[] {
    return this.child?.lines ?? [];
  }

  async up(): Promise<void> {
    this.child = start('nats-server', [
      '-js',
      '-sd',
      this.storeDir,
      '-a',
      '127.0.0.1',
      '-p',
      String(this.port),
      '--server_name',
      this.name,
      '--cluster_name',
      this.clusterName,
      '--cluster',
      `nats://127.0.0.1:${this.routePort}`,
      '--routes',
      this.routes(),
    ]);
    await this.child.waitFor((l) => l.includes('Server is ready'), 20_000, `nats-server ${this.name} ready`);
  }

  async down(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export class PrivateNatsCluster {
  private constructor(readonly nodes: readonly ClusterNode[]) {}

  static async start(size = 3): Promise<PrivateNatsCluster> {
    const clusterName = `navimpact-test-${process.pid}`;
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    const nodes: ClusterNode[] = [];
    const routes = () => nodes.map((n) => `nats://127.0.0.1:${n.routePort}`).join(',');
    for (let i = 0; i < size; i++) nodes.push(new ClusterNode(`n${i + 1}`, ports[i * 2]!, ports[i * 2 + 1]!, routes, clusterName));
    const cluster = new PrivateNatsCluster(nodes);
    try {
      await Promise.all(nodes.map((n) => n.up()));
      await cluster.jetStreamReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every node's URL, comma separated, as NATS_URL takes them. */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  node(name: string): ClusterNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in the cluster (${this.nodes.map((n) => n.name).join(', ')})`);
    return node;
  }

  /** Resolves once JetStream answers account requests (the metadata leader is elected). */
  async jetStreamReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.running).map((n) => n.url) });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await (await nc.jetstreamManager({ timeout: 1_000 })).getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`JetStream of the cluster not ready after ${timeoutMs} ms: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
        }
      }
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
