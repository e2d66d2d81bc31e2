/**
 * What the SDK reports on its 'error' event: one `LiveError` class with a stable `code`.
 * Codes are either the server's `error` frame codes (`FrameError` in src/domain/frames.ts)
 * or the SDK's own, below.
 */
import { CloseCode } from '../domain/codes.js';
import type { FrameError } from '../domain/frames.js';

export const ClientErrorCode = {
  /** A server frame that is not JSON or fails the `ServerFrame` schema; it was ignored. */
  BadServerFrame: 'bad_server_frame',
  /** `getToken` threw or returned nothing usable; the client retries later. */
  TokenUnavailable: 'token_unavailable',
  /** The token expired (close 4001, or a static token past `exp`) and there is no `getToken`; the client stopped. */
  TokenExpired: 'token_expired',
  /** The server refused the upgrade with HTTP 401 and there is no `getToken`; the client stopped. */
  TokenRejected: 'token_rejected',
  /** Close 4003: the token may not do this (another `sub` in `auth`, a forbidden topic); the client stopped. */
  Forbidden: 'forbidden',
  /** Close 4400: the server could not read a frame of ours (a bug in the SDK); the client stopped. */
  MalformedFrame: 'malformed_frame',
  /** Close 1009: a frame of ours was too large; the client stopped. */
  FrameTooLarge: 'frame_too_large',
  /** The WebSocket could not even be created (a malformed URL, or a token a subprotocol cannot carry); the client stopped. */
  ConnectFailed: 'connect_failed',
  /** `onReload` threw or rejected. */
  ReloadFailed: 'reload_failed',
  /** A listener of ours threw; its error is the `cause`. */
  ListenerThrew: 'listener_threw',
  /** The client was closed before the request could complete. */
  Closed: 'closed',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export interface LiveErrorDetails {
  cause?: unknown;
  /** The close code that ended the connection, when one did. */
  closeCode?: number;
  /** The `ref` of the request the server refused. */
  ref?: string | number;
  /** The topic the error is about, when there is one. */
  topic?: string;
}

export class LiveError extends Error {
  override readonly name = 'LiveError';
  readonly closeCode: number | undefined;
  readonly ref: string | number | undefined;
  readonly topic: string | undefined;

  constructor(
    readonly code: ClientErrorCode | FrameError | (string & {}),
    message: string,
    details: LiveErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.closeCode = details.closeCode;
    this.ref = details.ref;
    this.topic = details.topic;
  }
}

/** Close codes after which reconnecting cannot help: the client is at fault or not allowed. */
const TERMINAL: Readonly<Record<number, ClientErrorCode>> = {
  [CloseCode.Forbidden]: ClientErrorCode.Forbidden,
  [CloseCode.MalformedFrame]: ClientErrorCode.MalformedFrame,
  [CloseCode.FrameTooLarge]: ClientErrorCode.FrameTooLarge,
};

/** The error for a close code after which the client stops, or undefined when it reconnects. */
export function terminalCloseError(code: number, reason: string): LiveError | undefined {
  const errorCode = TERMINAL[code];
  if (errorCode === undefined) return undefined;
  return new LiveError(errorCode, `connection closed by the server (${code}${reason ? `: ${reason}` : ''})`, { closeCode: code });
}
