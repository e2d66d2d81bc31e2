/**
 * uWebSockets.js, native or not at all. The package we depend on (an npm alias of a
 * community build) silently falls back to a slow JavaScript shim when its native binary
 * does not load; the gateway refuses to start on it.
 */
import uWS from 'uWebSockets.js';

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';

/** Listen option that refuses a port another socket listens on (the typings only declare it as an enum). */
export const LISTEN_EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;

export class UwsNotNativeError extends Error {
  override name = 'UwsNotNativeError';
}

export function assertNativeUws(): void {
  const native = uWS as unknown as Record<string, unknown>;
  // Only the native addon has these; the fallback shim implements App and little else.
  if (typeof native.getParts !== 'function' || typeof native.SSLApp !== 'function') {
    throw new UwsNotNativeError(
      `uWebSockets.js native binary did not load for Node ${process.versions.node} (ABI ${process.versions.modules}, ${process.platform}-${process.arch}); refusing to run on the JavaScript fallback`,
    );
  }
}
