/**
 * Frames from clients (CONTRACT section 5): the rate limit, the size limit, parsing with
 * `ClientFrame`, and what each frame does. A frame that is not JSON text closes with 4400;
 * JSON that is not a valid frame is answered with an `error` frame and the connection stays.
 */
import { TokenError, type TokenVerifier } from '../auth/verifier.js';
import { CloseCode, FrameError } from '../domain/codes.js';
import { ClientFrame, serverFrame, type Ref } from '../domain/frames.js';
import type { Principal } from '../domain/token.js';
import { expiringAt, stateOf, type Socket } from './connection.js';
import type { GatewayOptions } from './gateway.js';
import type { Sockets } from './sockets.js';
import type { Subscriptions } from './subscriptions.js';

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export class Inbound {
  constructor(
    private readonly options: GatewayOptions,
    private readonly verifier: TokenVerifier,
    private readonly sockets: Sockets,
    private readonly subscriptions: Subscriptions,
    /** Frames a client may send at once (the rate limit's bucket). */
    private readonly burst: number,
  ) {}

  message(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const c = stateOf(ws);
    if (c.closing) return;
    const now = Date.now();
    c.lastHeard = now;
    const rate = this.options.GATEWAY_RATE_LIMIT;
    c.allowance = Math.min(this.burst, c.allowance + ((now - c.allowanceAt) * rate) / 1_000);
    c.allowanceAt = now;
    if (c.allowance < 1) return this.sockets.kill(ws, CloseCode.RateLimited);
    c.allowance -= 1;
    if (message.byteLength > this.options.GATEWAY_MAX_FRAME) return this.sockets.kill(ws, CloseCode.FrameTooLarge);
    if (isBinary) return this.sockets.kill(ws, CloseCode.MalformedFrame);
    let raw: unknown;
    try {
      raw = JSON.parse(textDecoder.decode(message));
    } catch {
      return this.sockets.kill(ws, CloseCode.MalformedFrame);
    }
    const parsed = ClientFrame.safeParse(raw);
    if (!parsed.success) {
      const ref = typeof raw === 'object' && raw !== null && 'ref' in raw && (typeof raw.ref === 'string' || typeof raw.ref === 'number') ? raw.ref : undefined;
      const issue = parsed.error.issues[0];
      return this.sockets.error(ws, FrameError.BadFrame, `${issue?.path.join('.') || 'frame'}: ${issue?.message ?? 'invalid'}`.slice(0, 200), ref);
    }
    const frame = parsed.data;
    switch (frame.type) {
      case 'ping':
        return void this.sockets.send(ws, serverFrame.pong(frame.ref));
      case 'subscribe':
        return this.subscriptions.subscribe(ws, frame.topic, frame.since, frame.ref);
      case 'unsubscribe':
        return this.subscriptions.unsubscribe(ws, frame.topic, frame.ref);
      case 'auth':
        return void this.reauth(ws, frame.token, frame.ref);
    }
  }

  /** `auth`: replaces the connection's token, for the same subject only. */
  private async reauth(ws: Socket, token: string, ref: Ref): Promise<void> {
    let principal: Principal;
    try {
      principal = await this.verifier.verify(token);
    } catch (err) {
      // The connection keeps its current token until it runs out.
      return this.sockets.error(ws, FrameError.AuthFailed, err instanceof TokenError ? `token refused: ${err.reason}` : 'token refused', ref);
    }
    const c = stateOf(ws);
    if (c.closed || c.closing) return;
    if (principal.sub !== c.sub) return this.sockets.kill(ws, CloseCode.Forbidden);
    const now = Date.now();
    c.role = principal.role;
    c.expiresAt = principal.expiresAt;
    c.expiringAt = expiringAt(now, principal.expiresAt, this.options.GATEWAY_EXPIRING_NOTICE);
    c.expiringSent = false;
    this.subscriptions.dropMetrics(ws);
    this.sockets.send(ws, serverFrame.authOk(c.expiresAt, ref));
  }
}
