/**
 * The process's HTTP listener: one uWebSockets.js app on HOST:PORT that the WebSocket
 * gateway, the REST routes and `/health` + `/metrics` mount themselves on.
 *
 * # Lifecycle
 * construct (refuses uWS's JavaScript fallback) -> rooms mount their routes on `app` ->
 * `listen` (adds the catch-all 404 last, binds exclusively) -> `close` (stops accepting;
 * open connections are their owners' to end).
 */
import { HttpErrorCode } from '../domain/codes.js';
import { errorBody } from './errors.js';
import { statusLine } from './status.js';
import { LISTEN_EXCLUSIVE_PORT, assertNativeUws, uWS, type TemplatedApp, type us_listen_socket } from './uws.js';

export class HttpServer {
  readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  /** The port listened on, once `listen` resolved. */
  port = 0;

  constructor() {
    assertNativeUws();
    this.app = uWS.App();
  }

  /**
   * Answers every route nobody mounted with 404, then listens. Resolves with the port.
   * `reusePort`: share the port with other processes (SO_REUSEPORT, HTTP_REUSE_PORT), the
   * kernel spreading connections over them; otherwise a port in use is an error.
   */
  async listen(host: string, port: number, reusePort = false): Promise<number> {
    this.app.any('/*', (res) => {
      res.cork(() => res.writeStatus(statusLine(404)).writeHeader('content-type', 'application/json').end(errorBody(HttpErrorCode.NotFound, 'no such route')));
    });
    await new Promise<void>((resolve, reject) => {
      // Exclusive unless asked: uWS would otherwise share a fixed port with another process
      // (SO_REUSEPORT) and the kernel would spread connections over both, silently.
      const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, reusePort ? 0 : LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${host}:${port} (in use?)`));
        this.listenSocket = socket;
        this.port = uWS.us_socket_local_port(socket);
        resolve();
      });
    });
    return this.port;
  }

  /** Stops accepting connections. Idempotent. */
  close(): void {
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }
}
