/**
 * The client's events and their payloads, inferred from the same zod schemas the gateway
 * builds its frames with (src/domain/frames.ts), so client and server cannot drift apart.
 */
import type { z } from 'zod';
import type {
  AuthOkFrame,
  ExpiringFrame,
  GrantFrame as GrantFrameSchema,
  MetricsFrame,
  SubscribedFrame,
  Topic,
  UnsubscribedFrame,
  WelcomeFrame,
} from '../domain/frames.js';
import type { LiveError } from './errors.js';
import type { Snapshot } from './reload.js';

export type GrantFrame = z.infer<typeof GrantFrameSchema>;
export type WelcomeFrameData = z.infer<typeof WelcomeFrame>;
export type SubscribedFrameData = z.infer<typeof SubscribedFrame>;
export type UnsubscribedFrameData = z.infer<typeof UnsubscribedFrame>;
export type AuthOkFrameData = z.infer<typeof AuthOkFrame>;
export type ExpiringFrameData = z.infer<typeof ExpiringFrame>;
export type MetricsFrameData = z.infer<typeof MetricsFrame>;

/**
 * - `connecting`: the first connection is being made (after `connect()`).
 * - `open`: `welcome` received; subscriptions are (being) restored.
 * - `reconnecting`: the connection was lost; waiting out the backoff or connecting again.
 * - `closed`: `close()` was called, or the client stopped for good (see the 'error' event).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The default reload's outcome: a snapshot to replace the topic's data with, or null when the app must reload itself. */
export interface ReloadEvent {
  topic: Topic;
  snapshot: Snapshot | null;
  /** Why there is no snapshot (no `restBaseUrl`, or the request failed). */
  cause?: unknown;
}

export interface LiveClientEvents {
  /** A change, once per connection lifetime of the client and in seq order. */
  grant: GrantFrame;
  state: ConnectionState;
  /** The server's first frame of each connection. */
  welcome: WelcomeFrameData;
  subscribed: SubscribedFrameData;
  unsubscribed: UnsubscribedFrameData;
  /** The token in force and its expiry: from `welcome`, then from each `auth_ok`. */
  authenticated: { expiresAt: number };
  expiring: ExpiringFrameData;
  metrics: MetricsFrameData;
  /** Emitted by the default reload (no `onReload` given) after `recovered: false`. */
  reload: ReloadEvent;
  error: LiveError;
}

/** Raises one of the client's events; the client hands it to the parts that report to the consumer. */
export type Emit = <K extends keyof LiveClientEvents>(event: K, payload: LiveClientEvents[K]) => void;
