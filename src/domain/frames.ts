/**
 * WebSocket frames of CONTRACT section 5, one zod schema each. The gateway parses client
 * frames with `ClientFrame` and builds server frames typed by these schemas; the client SDK
 * parses server frames with `ServerFrame`. See docs/protocol.md for the full description.
 */
import { z } from 'zod';
import { ChangeEvent } from './events.js';

export const SUBPROTOCOL = 'navimpact.v1';
export const BEARER_PREFIX = 'bearer.';

/** A topic: every grant, one grant, or the metrics feed (monitor and admin only). */
export const Topic = z.union([
  z.literal('grants'),
  z.literal('metrics'),
  z.string().regex(/^grant:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be grants, metrics or grant:<uuid>'),
]);
export type Topic = z.infer<typeof Topic>;

/** Echoed back on the answer, so a client can match answers to requests. */
const Ref = z.union([z.string().max(64), z.number().int()]).optional();
const Seq = z.number().int().min(0);

export const SubscribeFrame = z.strictObject({ type: z.literal('subscribe'), topic: Topic, since: Seq.optional(), ref: Ref });
export const UnsubscribeFrame = z.strictObject({ type: z.literal('unsubscribe'), topic: Topic, ref: Ref });
export const PingFrame = z.strictObject({ type: z.literal('ping'), ref: Ref });
export const AuthFrame = z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(8_192), ref: Ref });

export const ClientFrame = z.discriminatedUnion('type', [SubscribeFrame, UnsubscribeFrame, PingFrame, AuthFrame]);
export type ClientFrame = z.infer<typeof ClientFrame>;

export const WelcomeFrame = z.object({ type: z.literal('welcome'), session: z.string(), heartbeatMs: z.number().int().positive(), expiresAt: z.number().int() });
export const GrantFrame = z.object({ type: z.literal('grant') }).and(ChangeEvent);
export const SubscribedFrame = z.object({ type: z.literal('subscribed'), topic: Topic, seq: Seq, recovered: z.boolean(), ref: Ref });
export const UnsubscribedFrame = z.object({ type: z.literal('unsubscribed'), topic: Topic, ref: Ref });
export const PongFrame = z.object({ type: z.literal('pong'), ref: Ref });
export const AuthOkFrame = z.object({ type: z.literal('auth_ok'), expiresAt: z.number().int(), ref: Ref });
export const ExpiringFrame = z.object({ type: z.literal('expiring'), expiresAt: z.number().int() });
export const MetricsFrame = z.looseObject({ type: z.literal('metrics'), connections: z.number().int(), at: z.iso.datetime({ offset: true }) });
export const ErrorFrame = z.object({ type: z.literal('error'), code: z.string(), message: z.string(), ref: Ref });

export const ServerFrame = z.union([WelcomeFrame, GrantFrame, SubscribedFrame, UnsubscribedFrame, PongFrame, AuthOkFrame, ExpiringFrame, MetricsFrame, ErrorFrame]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type GrantFrame = z.infer<typeof GrantFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;

/** Codes of `error` frames: a refused request that leaves the connection open. */
export const FrameError = {
  BadFrame: 'bad_frame',
  Forbidden: 'forbidden',
  TooManySubscriptions: 'too_many_subscriptions',
  NotSubscribed: 'not_subscribed',
  AuthFailed: 'auth_failed',
  Unavailable: 'unavailable',
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];
