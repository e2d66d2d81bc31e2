/**
 * One bench client of a load process: the target's opening dance (welcome, then subscribe
 * to its topic, `grants` unless told otherwise; for Socket.IO its Engine.IO open and
 * namespace connect first), then counting the grant frames it receives and the bytes it
 * reads. A raw frame walker (wire.ts) or a `ws` client.
 */
import type { Socket } from 'node:net';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { ClientKind } from './load-protocol.js';
import { RawClient, GRANT_FRAME_MIN, type Target } from './wire.js';

/** One HS256 viewer token per client, `sub` = `<prefix>-<i>`. */
export async function signTokens(secret: string, prefix: string, count: number): Promise<string[]> {
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 4 * 3600;
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(await new SignJWT({ role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(`${prefix}-${i}`).setExpirationTime(exp).sign(key));
  return tokens;
}

const pathOf = (target: Target) => (target === 'gateway' ? '/v1/live' : target === 'socketio' ? '/socket.io/?EIO=4&transport=websocket' : '/');
/** The subscribe frame of a target: `{"type":"subscribe","topic":"grants"}` for the default topic. */
const subscribeFrame = (target: Target, topic: string) => (target === 'socketio' ? `42${JSON.stringify(['subscribe', topic])}` : JSON.stringify({ type: 'subscribe', topic }));
/**
 * Bytes of a grant frame a `ws` sampler decodes: enough for a filtered view's `topic`
 * (which comes first) and then seq, op, id and version. (The raw walker keeps 200, wire.ts.)
 */
const WS_SAMPLE_PREFIX = 600;

/** One client: the target's opening dance, then counting. */
export class Client {
  state: 'opening' | 'welcomed' | 'ready' | 'closed' = 'opening';
  stepFrames = 0;
  lastSeq = 0;
  seqErrors = 0;
  /** `bytesRead()` at the last mark. */
  bytesAtMark = 0;
  private raw: RawClient | undefined;
  private ws: WebSocket | undefined;
  /** The TCP socket under the client, once known (a `ws` client's at its upgrade). */
  private socket: Socket | undefined;

  constructor(
    private readonly target: Target,
    port: number,
    localAddress: string,
    private readonly token: string,
    private readonly subscribe: boolean,
    private readonly sampler: ((prefix: string, client: Client) => void) | undefined,
    kind: ClientKind,
    private readonly events: { ready: (c: Client) => void; welcomed?: (c: Client) => void; closed: (c: Client, code: number | undefined, err?: Error) => void },
    private readonly topic = 'grants',
  ) {
    const headers: Record<string, string> = target === 'gateway' ? { Authorization: `Bearer ${token}` } : {};
    if (kind === 'raw') {
      this.raw = new RawClient({
        host: '127.0.0.1',
        port,
        localAddress,
        path: pathOf(target),
        headers,
        sample: sampler !== undefined,
        onOpen: () => undefined,
        onText: (text) => this.onText(text),
        onGrant: (prefix) => this.onGrant(prefix),
        onClose: (code, err) => this.onClose(code, err),
      });
      this.socket = this.raw.socket;
    } else {
      this.ws = new WebSocket(`ws://127.0.0.1:${port}${pathOf(target)}`, { localAddress, headers, perMessageDeflate: false });
      this.ws.on('upgrade', (res) => (this.socket = res.socket));
      this.ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        if (data.length >= GRANT_FRAME_MIN) this.onGrant(this.sampler ? data.toString('latin1', 0, WS_SAMPLE_PREFIX) : undefined);
        else this.onText(data.toString('utf8'));
      });
      this.ws.on('close', (code) => this.onClose(code));
      this.ws.on('error', (err) => this.onClose(undefined, err));
    }
  }

  /** Bytes read off the TCP socket so far (the upgrade answer, frames, their headers, pings). */
  bytesRead(): number {
    return this.socket?.bytesRead ?? 0;
  }

  private send(text: string): void {
    if (this.raw) this.raw.sendText(text);
    else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close(): void {
    if (this.raw) this.raw.close();
    else this.ws?.close(1000);
  }

  destroy(): void {
    if (this.raw) this.raw.destroy();
    else this.ws?.terminate();
  }

  private welcomed(): void {
    this.state = 'welcomed';
    this.events.welcomed?.(this);
    if ((this.state as Client['state']) !== 'welcomed') return; // closed by the handler
    if (this.subscribe) this.send(subscribeFrame(this.target, this.topic));
    else this.ready();
  }

  private ready(): void {
    this.state = 'ready';
    this.events.ready(this);
  }

  private onText(text: string): void {
    if (this.target === 'socketio') {
      if (text === '2') return this.send('3');
      if (text.startsWith('0{')) return this.send(`40${JSON.stringify({ token: this.token })}`);
      if (text.startsWith('40') && this.state === 'opening') return this.welcomed();
      if (text.startsWith('42["subscribed"') && this.state === 'welcomed') return this.ready();
      if (text.startsWith('44')) {
        this.destroy();
        return this.onClose(undefined, new Error(`socket.io connect_error ${text.slice(0, 80)}`));
      }
      return;
    }
    if (this.state === 'opening' && text.includes('"type":"welcome"')) return this.welcomed();
    if (this.state === 'welcomed' && text.includes('"type":"subscribed"')) return this.ready();
    if (this.state === 'welcomed' && text.includes('"type":"error"')) {
      // A refused subscribe (a bad filter): fail now rather than at the connect timeout.
      this.onClose(undefined, new Error(`subscribe refused: ${text.slice(0, 120)}`));
      return this.destroy();
    }
  }

  private onGrant(prefix: string | undefined): void {
    this.stepFrames++;
    if (prefix !== undefined && this.sampler) this.sampler(prefix, this);
  }

  private onClose(code: number | undefined, err?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.events.closed(this, code, err);
  }
}
