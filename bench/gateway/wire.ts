/**
 * A minimal RFC 6455 client on a bare TCP socket, for the load generator.
 *
 * Why not `ws` for every client: on this two-core machine the load generator shares the
 * CPU with the server under test, Postgres, NATS and the relay. `ws` parses and decodes every
 * frame into a message event (about 200,000 messages/s per core); this client only walks
 * the frame headers of each TCP chunk and counts text frames, so a load process absorbs
 * several times more messages per CPU second and the server, not the generator, runs out
 * first. Payloads are decoded only for the latency-sampling clients and for the few
 * control frames of the handshake. `--client ws` in run.ts switches every client to `ws`
 * for comparison (see load.ts).
 *
 * The client answers protocol pings (opcode 9) with pongs, and Engine.IO pings ("2") with
 * "3", so no server closes it as dead during a long run.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export type Target = 'gateway' | 'bare' | 'socketio';

/** A grant frame is several hundred bytes; every control frame of the three servers is shorter. */
export const GRANT_FRAME_MIN = 200;
/** Bytes of a grant frame a sampler decodes: enough for type, seq, op, id and version. */
const SAMPLE_PREFIX = 200;

export interface RawOptions {
  host: string;
  port: number;
  localAddress: string;
  path: string;
  headers: Record<string, string>;
  /** Decode grant frames (their first bytes) and hand them to `onSample`. */
  sample: boolean;
  /** Bytes of a grant frame a sampler keeps (default SAMPLE_PREFIX; bench/storm keeps whole frames). */
  samplePrefix?: number;
  onText: (text: string) => void;
  onGrant: (prefix: string | undefined) => void;
  onClose: (code: number | undefined, error?: Error) => void;
  onOpen: () => void;
}

/** A masked client frame (RFC 6455 section 5.3: client frames are masked). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65_536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  let o = 2;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
    o = 4;
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
    o = 10;
  }
  const mask = randomBytes(4);
  mask.copy(out, o);
  o += 4;
  for (let i = 0; i < len; i++) out[o + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/** One read buffer for every client of the process (reads run one at a time). */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export class RawClient {
  readonly socket: Socket;
  open = false;
  closed = false;
  private handshake = '';
  // Frame parser state.
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private hdrNeed = 2;
  private remaining = 0;
  private opcode = 0;
  private frameLen = 0;
  private capture: Buffer[] | undefined;
  private captured = 0;
  private captureLimit = 0;

  constructor(private readonly o: RawOptions) {
    const key = randomBytes(16).toString('base64');
    const extra = Object.entries(o.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    // `onread` hands every read to the callback in one shared buffer, bypassing the
    // readable-stream machinery and a Buffer allocation per read: the frame walk below
    // copies out the few bytes it keeps before the next read reuses the buffer.
    this.socket = connect({
      host: o.host,
      port: o.port,
      localAddress: o.localAddress,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.onData(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      this.socket.write(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
    });
    this.socket.on('error', (err) => this.finish(undefined, err));
    this.socket.on('close', () => this.finish(undefined));
  }

  sendText(text: string): void {
    if (!this.closed) this.socket.write(clientFrame(0x1, Buffer.from(text)));
  }

  /** Sends a close frame and ends the TCP connection without waiting for the answer. */
  close(code = 1000): void {
    if (this.closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.socket.end(clientFrame(0x8, payload));
    this.finish(code);
  }

  destroy(): void {
    this.socket.destroy();
    this.finish(undefined);
  }

  private finish(code: number | undefined, err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.o.onClose(code, err);
  }

  private onData(chunk: Buffer, length: number): void {
    let i = 0;
    if (!this.open) {
      this.handshake += chunk.toString('latin1', 0, length);
      const end = this.handshake.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.handshake.length > 16_384) this.fail(new Error('handshake answer too long'));
        return;
      }
      const status = this.handshake.slice(0, this.handshake.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101/.test(status)) {
        const retryAfter = /\r\nretry-after: *(\d+)/i.exec(this.handshake)?.[1];
        return this.fail(new Error(`upgrade refused: ${status}${retryAfter ? ` (retry-after ${retryAfter})` : ''}`));
      }
      // The answer is ASCII, so latin1 characters map one to one onto bytes.
      i = length - (this.handshake.length - end - 4);
      this.handshake = '';
      this.open = true;
      this.o.onOpen();
    }
    while (i < length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, length - i);
        if (this.capture && this.captured < this.captureLimit) {
          const take = Math.min(n, this.captureLimit - this.captured);
          // A copy: the read buffer is reused by the next read.
          this.capture.push(Buffer.from(chunk.subarray(i, i + take)));
          this.captured += take;
        }
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      // Header bytes, one at a time (at most 10 per frame from a server).
      this.hdr[this.hdrLen++] = chunk[i++]!;
      if (this.hdrLen === 2) {
        const len7 = this.hdr[1]! & 0x7f;
        this.hdrNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.hdr[1]! & 0x80 ? 4 : 0);
      }
      if (this.hdrLen < this.hdrNeed) continue;
      this.startFrame();
    }
  }

  private startFrame(): void {
    const b1 = this.hdr[1]!;
    const len7 = b1 & 0x7f;
    this.opcode = this.hdr[0]! & 0x0f;
    this.frameLen = len7 < 126 ? len7 : len7 === 126 ? this.hdr.readUInt16BE(2) : Number(this.hdr.readBigUInt64BE(2));
    this.hdrLen = 0;
    this.hdrNeed = 2;
    this.remaining = this.frameLen;
    // Continuation frames are not expected from these servers (each message is one frame).
    const grant = this.opcode === 0x1 && this.frameLen >= GRANT_FRAME_MIN;
    if (grant && !this.o.sample) {
      this.capture = undefined;
    } else {
      this.capture = [];
      this.captured = 0;
      this.captureLimit = grant ? (this.o.samplePrefix ?? SAMPLE_PREFIX) : this.frameLen;
    }
    if (this.remaining === 0) this.endFrame();
  }

  private endFrame(): void {
    const op = this.opcode;
    const payload = this.capture ? (this.capture.length === 1 ? this.capture[0]! : Buffer.concat(this.capture)) : undefined;
    this.capture = undefined;
    if (op === 0x1) {
      if (this.frameLen >= GRANT_FRAME_MIN) this.o.onGrant(payload?.toString('latin1'));
      else this.o.onText(payload!.toString('utf8'));
    } else if (op === 0x9) {
      this.socket.write(clientFrame(0xa, payload ?? Buffer.alloc(0)));
    } else if (op === 0x8) {
      const code = payload && payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.socket.end();
      this.finish(code);
    }
  }

  private fail(err: Error): void {
    this.socket.destroy();
    this.finish(undefined, err);
  }
}
