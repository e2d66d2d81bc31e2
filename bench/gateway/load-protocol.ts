/**
 * What the orchestrator (run.ts) and a load process (load.ts) say to each other over IPC:
 * one command, one reply.
 */
import type { Target } from './wire.js';

export type ClientKind = 'raw' | 'ws';

export interface ConnectCommand {
  cmd: 'connect';
  target: Target;
  port: number;
  localAddress: string;
  count: number;
  subscribe: boolean;
  samplers: number;
  concurrency: number;
  client: ClientKind;
  /** The sampling clients' kind (they decode and time every grant frame). */
  samplerClient: ClientKind;
  secret: string;
  subPrefix: string;
  timeoutMs: number;
  /**
   * What the clients subscribe to: client i of this process takes `topics[i % length]`
   * (`grants` when absent). The views bench gives filtered topics `grants?<filter>`.
   */
  topics?: string[];
}

export interface HandshakeCommand {
  cmd: 'handshakes';
  target: Target;
  port: number;
  localAddress: string;
  concurrency: number;
  seconds: number;
  secret: string;
  subPrefix: string;
}

export type Command =
  | ConnectCommand
  | HandshakeCommand
  | { cmd: 'mark' }
  | { cmd: 'snapshot' }
  | { cmd: 'latency'; commits: [string, number][] }
  | { cmd: 'closeClients' }
  | { cmd: 'close' };

export interface ConnectReply {
  type: 'connect';
  ready: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

export interface SnapshotReply {
  type: 'snapshot';
  frames: number;
  perClientMin: number;
  perClientMax: number;
  open: number;
  /** Bytes the clients read off their TCP sockets since the mark (frames, framing, pings). */
  bytes: number;
  closes: Record<string, number>;
  cpuMs: number;
  loopDelayP99Ms: number;
  rssBytes: number;
}

export interface LatencyReply {
  type: 'latency';
  latencies: number[];
  unmatched: number;
  seqErrors: number;
}

export interface HandshakeReply {
  type: 'handshakes';
  done: number;
  failed: number;
  errors: Record<string, number>;
  latencies: number[];
  cpuMs: number;
}
