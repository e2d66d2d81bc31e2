/**
 * NavImpact Live client SDK: the public surface. Usable in browsers and Node 20; imports
 * nothing of the server but the domain schemas. See docs/protocol.md, "The SDK".
 *
 * ```ts
 * import WebSocket from 'ws'; // browsers and Node 22: omit, the global WebSocket is used
 * const client = new LiveClient({ url: 'wss://live.example.org/v1/live', getToken, WebSocket });
 * client.on('grant', (frame) => apply(frame));
 * client.on('state', (state) => show(state));
 * client.subscribe('grants');
 * await client.connect();
 * ```
 */
export { LiveClient, type LiveClientOptions } from './live-client.js';
export { LiveView, type LiveViewEvents, type ViewChange, type ViewOptions } from './view.js';
export type { Transport } from './connection.js';
export { canonicalQuery, parseFilter, matches, type GrantFilter } from '../domain/filter.js';
export type {
  ConnectionState,
  GrantFrame,
  LiveClientEvents,
  ReloadEvent,
  WelcomeFrameData,
  SubscribedFrameData,
  UnsubscribedFrameData,
  AuthOkFrameData,
  ExpiringFrameData,
  MetricsFrameData,
} from './events.js';
export { LiveError, ClientErrorCode, type LiveErrorDetails } from './errors.js';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
export type { Snapshot } from './reload.js';
export type { SocketConstructor, SocketLike } from './socket.js';
export type { Listener } from './emitter.js';
export { FrameError } from '../domain/codes.js';
export type { Topic } from '../domain/frames.js';
export type { Grant } from '../domain/grant.js';
