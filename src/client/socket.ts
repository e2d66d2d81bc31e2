/**
 * The part of a WebSocket the SDK uses: the browser's `WebSocket`, Node 22's global one and
 * the `ws` package's class all fit. Handlers are assigned (`onmessage = ...`) rather than
 * added, so a socket the client has given up on is silenced by one assignment.
 */

/** A handler type checked bivariantly, so both DOM and `ws` event classes are accepted. */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface SocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

export const OPEN = 1;
export const CLOSED = 3;

/** Text of a message event's data, or undefined for binary data that is not UTF-8 text. */
export function messageText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  try {
    if (data instanceof ArrayBuffer) return new TextDecoder('utf-8', { fatal: true }).decode(data);
    if (ArrayBuffer.isView(data)) return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return undefined;
  }
  return undefined;
}

/** Closes a socket the client no longer wants, the hard way when the implementation allows. */
export function abandon(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // `ws` throws on an 'error' event nobody listens to: keep a listener for good.
  socket.onerror = () => {};
  try {
    const terminate = (socket as { terminate?: () => void }).terminate;
    if (typeof terminate === 'function') terminate.call(socket);
    else socket.close(4000, 'abandoned');
  } catch {
    /* already closed */
  }
}
