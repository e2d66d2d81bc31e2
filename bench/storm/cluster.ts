/**
 * What bench/storm and bench/soak stand on: a fresh database, a private nats-server, a relay
 * process (`src/main.ts`, ROLES=relay), gateway processes sharing one port
 * (ROLES=gateway, HTTP_REUSE_PORT=true), a steady committer of single-row UPDATEs, and the
 * fleet of SDK load processes (sdk-load.ts) on source addresses 127.0.0.2, .3, ...
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import { startLoads, share, type LoadProcess } from '../gateway/load-fleet.js';
import { Committer } from '../gateway/commits.js';
import { PrivateNats } from '../common/nats.js';
import { BenchDatabase, migrate } from '../common/postgres.js';
import { startTs, type Proc } from '../common/processes.js';
import { now, sleep } from '../common/time.js';
import type { Command, EventsReply, Snapshot } from './sdk-protocol.js';

export const JWT_SECRET = 'bench-storm-secret-0123456789abcdef0123456789';
const SDK_LOAD = join(fileURLToPath(new URL('.', import.meta.url)), 'sdk-load.ts');

export interface GatewaySettings {
  acceptRate: number;
  drain: string;
  /** GRANTS_MAX_AGE of the relay and the gateways (they must agree); unset: the default, 24 h. */
  grantsMaxAge?: string;
}

/** GRANTS_MAX_AGE for every process of the cluster (the relay and the gateways must agree). */
function retentionEnv(settings: GatewaySettings): Record<string, string> {
  return settings.grantsMaxAge ? { GRANTS_MAX_AGE: settings.grantsMaxAge } : {};
}

export class Gateway {
  constructor(
    readonly name: string,
    readonly proc: Proc,
    readonly pid: number,
  ) {}

  get alive(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  kill(signal: 'SIGKILL' | 'SIGTERM'): void {
    if (this.alive) process.kill(this.pid, signal);
  }
}

export class Cluster {
  private constructor(
    readonly nats: PrivateNats,
    readonly db: BenchDatabase,
    readonly relay: Proc,
    readonly committer: Committer,
    readonly sql: pg.Pool,
    readonly port: number,
    readonly settings: GatewaySettings,
  ) {}

  static async start(pgUrl: string, port: number, settings: GatewaySettings, rows = 1_000): Promise<Cluster> {
    const nats = await PrivateNats.start();
    const db = await BenchDatabase.create(pgUrl, 'bench_storm');
    migrate(db.url);
    const committer = await Committer.create(db.url, rows, 400);
    const relay = startTs('relay', 'src/main.ts', { ROLES: 'relay', DATABASE_URL: db.url, NATS_URL: nats.url, LOG_LEVEL: 'info', APP_ENV: 'production', DATABASE_POOL_SIZE: '2', PORT: '0', JWT_SECRET, ...retentionEnv(settings) });
    await relay.waitFor((l) => l.includes('"code":"RelayLeaderAcquired"'), 60_000);
    const cluster = new Cluster(nats, db, relay, committer, new pg.Pool({ connectionString: db.url, max: 2 }), port, settings);
    await cluster.drained(120_000);
    return cluster;
  }

  /** A gateway process on the shared port; resolves once it listens. */
  async gateway(name: string): Promise<Gateway> {
    const proc = startTs(name, 'src/main.ts', {
      ROLES: 'gateway',
      HOST: '127.0.0.1',
      PORT: String(this.port),
      HTTP_REUSE_PORT: 'true',
      DATABASE_URL: this.db.url,
      DATABASE_POOL_SIZE: '2',
      NATS_URL: this.nats.url,
      CACHE_PREFIX: `bench-storm-${this.port}:`,
      JWT_SECRET,
      APP_ENV: 'production',
      LOG_LEVEL: 'info',
      GATEWAY_ACCEPT_RATE: String(this.settings.acceptRate),
      GATEWAY_REPLAY_WINDOW: '2000', // resumes from memory (the storm's results were measured with it)
      SHUTDOWN_DRAIN: this.settings.drain,
      SHUTDOWN_TIMEOUT: '120s',
      GATEWAY_MAX_CONNECTIONS_PER_SUB: '100000',
      GATEWAY_RATE_LIMIT: '1000',
      ...retentionEnv(this.settings),
    });
    await proc.waitFor((l) => l.includes('"code":"GatewayListening"'), 90_000);
    return new Gateway(name, proc, proc.realPid());
  }

  /** Stream seq of the last change the relay published, once the change log is empty. */
  async drained(timeoutMs = 60_000): Promise<number> {
    const deadline = now() + timeoutMs;
    for (;;) {
      const { rows } = await this.sql.query<{ pending: number; seq: string }>('SELECT (SELECT count(*)::int FROM grant_changes) AS pending, (SELECT stream_seq FROM relay_state) AS seq');
      if (rows[0]!.pending === 0) return Number(rows[0]!.seq);
      if (now() > deadline) throw new Error(`the relay did not drain the change log in ${timeoutMs} ms`);
      await sleep(100); // the change log has no event to await
    }
  }

  /** Transactions committed and rolled back in the bench database so far (pg_stat_database). */
  async xacts(): Promise<number> {
    const { rows } = await this.sql.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]!.n);
  }

  /** `/metrics` of the gateway with pid `pid` (both share the port: asks until that one answers). */
  async metrics(pid: number, tries = 200): Promise<Map<string, number> | undefined> {
    const token = await monitorToken();
    for (let i = 0; i < tries; i++) {
      const text = await fetch(`http://127.0.0.1:${this.port}/metrics`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } })
        .then((r) => r.text())
        .catch(() => '');
      const series = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const at = line.lastIndexOf(' ');
        series.set(line.slice(0, at), Number(line.slice(at + 1)));
      }
      if (series.get('navimpact_process_pid') === pid) return series;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await this.sql.end().catch(() => undefined);
    await this.committer.end().catch(() => undefined);
    await this.relay.stop().catch(() => undefined);
    await this.nats.stop().catch(() => undefined);
    await this.db.drop().catch(() => undefined);
  }
}

let monitor: string | undefined;
async function monitorToken(): Promise<string> {
  monitor ??= await new SignJWT({ role: 'monitor' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('bench-storm-monitor')
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3 * 3600)
    .sign(new TextEncoder().encode(JWT_SECRET));
  return monitor;
}

/** Commits at `rate` a second until stopped; the count of commits that succeeded. */
export function steadyCommits(committer: Committer, rate: number) {
  let stopped = false;
  let committed = 0;
  let failed = 0;
  const pending = new Set<Promise<void>>();
  const done = (async () => {
    const t0 = now();
    let issued = 0;
    while (!stopped) {
      const due = Math.floor(((now() - t0) / 1000) * rate) + 1;
      while (issued < due) {
        issued++;
        const p = committer.commitOne().then(
          () => void committed++,
          () => void failed++,
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await sleep(5);
    }
    await Promise.all(pending);
  })();
  return {
    get committed() {
      return committed;
    },
    async stop() {
      stopped = true;
      await done;
      return { committed, failed };
    },
  };
}

/** The SDK load processes. */
export class Fleet {
  constructor(readonly loads: LoadProcess[]) {}

  static start(procs: number, firstAddress: number): Fleet {
    return new Fleet(startLoads(procs, firstAddress, SDK_LOAD));
  }

  /** Opens `total` clients spread over the processes at `perSecond` in all; the count answered `subscribed`. */
  async open(kind: 'sdk' | 'raw', port: number, total: number, perSecond: number, prefix: string, reconnect = { baseMs: 500, maxMs: 20_000 }): Promise<number> {
    const k = this.loads.length;
    const ready = await Promise.all(
      this.loads.map((l) =>
        l.request<{ ready: number }, Command>(
          {
            cmd: 'open',
            kind,
            port,
            localAddress: l.localAddress,
            secret: JWT_SECRET,
            subPrefix: `${prefix}-${l.index}`,
            count: share(total, k, l.index),
            perSecond: perSecond / k,
            reconnect,
            timeoutMs: 180_000,
          },
          600_000,
        ),
      ),
    );
    return ready.reduce((s, r) => s + r.ready, 0);
  }

  /** Opens `total` more clients; waits up to `timeoutMs` for them to be subscribed (0: does not wait). */
  async more(total: number, perSecond: number, timeoutMs = 60_000): Promise<number> {
    const k = this.loads.length;
    const r = await Promise.all(this.loads.map((l) => l.request<{ ready: number }, Command>({ cmd: 'more', count: share(total, k, l.index), perSecond: perSecond / k, timeoutMs }, timeoutMs + 600_000)));
    return r.reduce((s, x) => s + x.ready, 0);
  }

  async leave(total: number): Promise<void> {
    const k = this.loads.length;
    await Promise.all(this.loads.map((l) => l.request<unknown, Command>({ cmd: 'leave', count: share(total, k, l.index) }, 600_000)));
  }

  async mark(record: boolean): Promise<void> {
    await Promise.all(this.loads.map((l) => l.request<unknown, Command>({ cmd: 'mark', record }, 900_000)));
  }

  async snapshot(target: number): Promise<Omit<Snapshot, 'type'>> {
    const s = await Promise.all(this.loads.map((l) => l.request<Snapshot, Command>({ cmd: 'snapshot', target }, 900_000)));
    const total = { clients: 0, behind: 0, minSeq: Infinity, gaps: 0, repeats: 0, reloads: 0, notOpen: 0, closes: {} as Record<string, number>, rssBytes: 0, cpuSeconds: 0, loopDelayMaxMs: 0 };
    for (const x of s) {
      total.clients += x.clients;
      total.behind += x.behind;
      total.minSeq = Math.min(total.minSeq, x.minSeq);
      total.gaps += x.gaps;
      total.repeats += x.repeats;
      total.reloads += x.reloads;
      total.notOpen += x.notOpen;
      total.rssBytes += x.rssBytes;
      total.cpuSeconds += x.cpuSeconds;
      total.loopDelayMaxMs = Math.max(total.loopDelayMaxMs, x.loopDelayMaxMs);
      for (const [k, v] of Object.entries(x.closes)) total.closes[k] = (total.closes[k] ?? 0) + v;
    }
    return total;
  }

  async events(): Promise<EventsReply> {
    const r = await Promise.all(this.loads.map((l) => l.request<EventsReply, Command>({ cmd: 'events' }, 300_000)));
    return { type: 'events', clients: r.flatMap((x) => x.clients), departed: r.flatMap((x) => x.departed) };
  }

  /** Waits until every client is open and has seen `target`; the last snapshot. */
  async caughtUp(target: number, timeoutMs: number, progress?: (s: Omit<Snapshot, 'type'>) => void) {
    const deadline = now() + timeoutMs;
    for (;;) {
      const s = await this.snapshot(target);
      if ((s.behind === 0 && s.notOpen === 0) || now() > deadline) return { ...s, ok: s.behind === 0 && s.notOpen === 0 };
      progress?.(s);
      await sleep(1_000);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.loads.map((l) => l.stop()));
  }
}
