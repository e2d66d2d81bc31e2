/**
 * What the SDK reports on its 'error' event: one `LiveError` class with a stable `code`.
 * Codes are either the server's `error` frame codes (`FrameError`) or the SDK's own
 * (`ClientErrorCode`), both in the one vocabulary of src/domain/codes.ts.
 */
import { ClientErrorCode, CloseCode, type FrameError } from '../domain/codes.js';

export { ClientErrorCode };

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
