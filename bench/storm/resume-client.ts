/**
 * A reconnecting, resuming client on the raw frame walker of bench/gateway/wire.ts: what the
 * SDK's `LiveClient` does on the wire, at a fraction of its CPU, for 10,000 clients on this
 * machine (a `LiveClient` checks every frame against the zod schema and keeps its timers).
 *
 * It follows the SDK's reconnect rules (src/client/connection.ts) with the same numbers:
 * after a drop it waits `backoffDelay(attempt, {500 ms, 20 s})` (full jitter,
 * src/domain/backoff.ts), and after a 503 at least the SDK's floor of 1 s, spread over as
 * long again (`1000 * (1 + random)`): the floor the SDK applies when WebSocket hides the
 * Retry-After header, as it does in browsers and with `ws`. The attempt count starts afresh
 * after a connection that lasted 5 s. On `welcome` it subscribes to `grants`, with
 * `since` = the last seq it saw once it has seen one.
 */
import { backoffDelay } from '../../src/domain/backoff.js';
import { RawClient } from '../gateway/wire.js';

const BACKOFF = { baseMs: 500, maxMs: 20_000 };
const BUSY_RETRY_FLOOR_MS = 1_000;
const STABLE_AFTER_MS = 5_000;
const GRANT_RE = /^\{"type":"grant","seq":(\d+),/;
const COMMITTED_RE = /"committedAt":"([^"]+)"\}$/;

export interface ResumeHooks {
  welcome(): void;
  subscribed(seq: number, recovered: boolean): void;
  grant(seq: number, committedAtMs: number): void;
  /** A socket ended: the close code (1006 when none), and the Retry-After of a refused upgrade. */
  socketClosed(code: number, retryAfterSeconds: number | undefined): void;
}

export class ResumeClient {
  state: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  private raw: RawClient | undefined;
  private attempt = 0;
  private welcomedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  lastSeq = -1;

  constructor(
    private readonly port: number,
    private readonly localAddress: string,
    private readonly token: string,
    private readonly hooks: ResumeHooks,
  ) {}

  connect(): void {
    const raw = new RawClient({
      host: '127.0.0.1',
      port: this.port,
      localAddress: this.localAddress,
      path: '/v1/live',
      headers: { Authorization: `Bearer ${this.token}` },
      sample: true,
      samplePrefix: 1 << 20,
      onOpen: () => undefined,
      onText: (text) => this.onText(text),
      onGrant: (frame) => {
        const seq = GRANT_RE.exec(frame!);
        const at = COMMITTED_RE.exec(frame!);
        if (!seq) return;
        const n = Number(seq[1]);
        this.hooks.grant(n, at ? Date.parse(at[1]!) : NaN);
        if (n > this.lastSeq) this.lastSeq = n;
      },
      onClose: (code, err) => this.onClose(raw, code, err),
    });
    this.raw = raw;
  }

  private onText(text: string): void {
    if (text.includes('"type":"welcome"')) {
      this.state = 'open';
      this.welcomedAt = Date.now();
      this.hooks.welcome();
      this.raw!.sendText(JSON.stringify({ type: 'subscribe', topic: 'grants', ...(this.lastSeq >= 0 ? { since: this.lastSeq } : {}) }));
    } else if (text.includes('"type":"subscribed"')) {
      const seq = Number(/"seq":(\d+)/.exec(text)?.[1] ?? NaN);
      if (this.lastSeq < 0) this.lastSeq = seq;
      this.hooks.subscribed(seq, !text.includes('"recovered":false'));
    }
  }

  private onClose(raw: RawClient, code: number | undefined, err?: Error): void {
    if (raw !== this.raw || this.state === 'closed') return;
    this.raw = undefined;
    const retryAfter = err ? /retry-after (\d+)/.exec(err.message)?.[1] : undefined;
    this.hooks.socketClosed(code ?? 1006, retryAfter === undefined ? undefined : Number(retryAfter));
    if (this.state === 'open' && Date.now() - this.welcomedAt >= STABLE_AFTER_MS) this.attempt = 0;
    this.state = this.lastSeq >= 0 ? 'reconnecting' : 'connecting';
    const busy = err !== undefined && /\b503\b/.test(err.message);
    const delay = Math.max(backoffDelay(this.attempt, BACKOFF), busy ? BUSY_RETRY_FLOOR_MS * (1 + Math.random()) : 0);
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.raw?.close();
    this.raw = undefined;
  }
}
