/** What the orchestrators (bench/storm, bench/soak) and an SDK load process (sdk-load.ts) say over IPC. */
import type { ConnectionState } from '../../src/client/events.js';

export interface OpenCommand {
  cmd: 'open';
  /** `sdk`: the SDK's LiveClient with `ws`; `raw`: resume-client.ts (the SDK's rules on the raw frame walker). */
  kind: 'sdk' | 'raw';
  port: number;
  localAddress: string;
  secret: string;
  subPrefix: string;
  count: number;
  /** Clients started per second by this process. */
  perSecond: number;
  reconnect: { baseMs: number; maxMs: number };
  timeoutMs: number;
}

export type Command =
  | OpenCommand
  | { cmd: 'more'; count: number; perSecond: number; timeoutMs: number }
  | { cmd: 'leave'; count: number }
  | { cmd: 'mark'; record: boolean }
  | { cmd: 'snapshot'; target: number }
  | { cmd: 'events' }
  | { cmd: 'close' };

export interface ClientSummary {
  index: number;
  firstSeq: number;
  lastSeq: number;
  frames: number;
  gaps: number;
  repeats: number;
  reloads: number;
  state: ConnectionState;
}

export interface Snapshot {
  type: 'snapshot';
  clients: number;
  /** Clients whose last seq is below the target. */
  behind: number;
  minSeq: number;
  gaps: number;
  repeats: number;
  reloads: number;
  notOpen: number;
  /** Socket closes by code since the process started. */
  closes: Record<string, number>;
  rssBytes: number;
  /** CPU seconds of the load process so far, and its longest event-loop stall since the last snapshot. */
  cpuSeconds: number;
  loopDelayMaxMs: number;
}

export interface ClientEvents extends ClientSummary {
  welcomes: number[];
  subscribes: number[];
  /** [time, close code] of each socket close. */
  closes: [number, number][];
  /** Commit-to-client latencies (ms) of live frames, and of replayed ones, while recording. */
  live: number[];
  replayed: number[];
}

export interface EventsReply {
  type: 'events';
  clients: ClientEvents[];
  departed: ClientSummary[];
}
