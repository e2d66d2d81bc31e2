/**
 * The open connections of a gateway, and the few primitives every part of it writes
 * through: `send` (which closes a client that cannot keep up), `kill` (a close code of
 * CONTRACT section 5; the close handler does the cleanup) and `error` frames.
 */
import { CloseCode, LogCode, closeReason, type FrameError } from '../domain/codes.js';
import { serverFrame, type Ref } from '../domain/frames.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { OpenSockets, stateOf, type Socket } from './connection.js';

export class Sockets {
  /** Every connection whose `open` ran and whose close handler has not. */
  readonly open = new OpenSockets();
  /** Open (and upgrading) connections per token subject. */
  private readonly perSub = new Map<string, number>();
  private emptyWaiters: (() => void)[] = [];

  constructor(
    /** GATEWAY_MAX_BUFFER. */
    private readonly maxBuffer: number,
    /** How long a close waits for a client that is not reading (two heartbeats). */
    private readonly closeWaitMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Connections held by `sub`, counting upgrades in progress. */
  heldBy(sub: string): number {
    return this.perSub.get(sub) ?? 0;
  }

  /** Counts an upgrade for `sub` (at upgrade, not at open, so simultaneous upgrades cannot pass the limit). */
  reserve(sub: string): void {
    this.perSub.set(sub, this.heldBy(sub) + 1);
  }

  get subjects(): number {
    return this.perSub.size;
  }

  opened(ws: Socket): void {
    this.open.add(ws);
    this.metrics.wsConnections.inc();
  }

  /** Gives back what `reserve` counted (an upgrade or SSE stream that ended). */
  unreserve(sub: string): void {
    const left = this.heldBy(sub) - 1;
    if (left > 0) this.perSub.set(sub, left);
    else this.perSub.delete(sub);
  }

  /** The registry's part of the one cleanup (gateway.ts). */
  removed(ws: Socket): void {
    const c = stateOf(ws);
    this.open.delete(ws);
    this.unreserve(c.sub);
    this.metrics.wsConnections.dec();
    if (this.open.size === 0) for (const resolve of this.emptyWaiters.splice(0)) resolve();
  }

  /** Resolves once no connection is open (every close handler has run). */
  whenEmpty(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /**
   * Closes with a code of CONTRACT section 5; the close handler does the cleanup.
   *
   * A closing connection gets nothing more: it leaves every uWS topic first, so later
   * publishes skip it and its buffer stays where it was. A client that is not reading (its
   * buffer not empty) gets the close frame when it reads again: uWS gives up on a closing
   * socket that does not answer within seconds, so the close is sent at its next `drain`,
   * or the connection dropped after two heartbeats of silence (heartbeat.ts).
   */
  kill(ws: Socket, code: CloseCode): void {
    const c = stateOf(ws);
    if (c.closed || c.closing) return;
    c.closing = true;
    for (const topic of ws.getTopics()) ws.unsubscribe(topic);
    if (code === CloseCode.TooSlow) {
      this.metrics.wsSlowDisconnects.inc();
      this.log.info({ code: LogCode.GatewaySlowConsumer, session: c.session, sub: c.sub }, 'closed a client that could not keep up');
    }
    if (ws.getBufferedAmount() > 0) {
      c.pendingClose = code;
      c.closeBy = Date.now() + this.closeWaitMs;
      return;
    }
    ws.end(code, closeReason[code]);
  }

  /** uWS wrote some of what a client had not read: a pending close goes out now. */
  drained(ws: Socket): void {
    const c = stateOf(ws);
    if (c.closed || c.pendingClose === undefined) return;
    const code = c.pendingClose;
    c.pendingClose = undefined;
    ws.end(code, closeReason[code]);
  }

  /** Sends one frame; false when the connection is closing or was closed for falling behind. */
  send(ws: Socket, frame: string): boolean {
    const c = stateOf(ws);
    if (c.closed || c.closing) return false;
    const status = ws.send(frame);
    if (status === 2 || ws.getBufferedAmount() > this.maxBuffer) {
      this.kill(ws, CloseCode.TooSlow);
      return false;
    }
    this.metrics.wsMessagesSent.inc();
    return true;
  }

  error(ws: Socket, code: FrameError, message: string, ref: Ref): void {
    this.send(ws, serverFrame.error(code, message, ref));
  }
}
