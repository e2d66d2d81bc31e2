/**
 * WebSocket frames of CONTRACT section 5, one zod schema each: the truth of the wire. The
 * gateway parses client frames with `ClientFrame` and writes server frames only through the
 * builders at the end of this file, each of which `satisfies` its schema's type; the client
 * SDK parses server frames with `ServerFrame`. See docs/protocol.md for the full description.
 */
import { z } from 'zod';
import type { FrameError } from './codes.js';
import { ChangeOp, type ChangeEvent } from './events.js';
import { Grant, GrantId } from './grant.js';

export const SUBPROTOCOL = 'navimpact.v1';
export const BEARER_PREFIX = 'bearer.';

/** Longest topic accepted (a filtered view's query included). */
export const MAX_TOPIC_LENGTH = 2_048;

/**
 * A topic: every grant, a filtered view of them (`grants?<filter>`, CONTRACT v1.1; the
 * filter itself is checked by domain/filter.ts, which names a bad parameter), one grant, or
 * the metrics feed (monitor and admin only).
 */
export const Topic = z.union([
  z.literal('grants'),
  z.literal('metrics'),
  z.string().regex(/^grant:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be grants, grants?<filter>, metrics or grant:<uuid>'),
  z.string().max(MAX_TOPIC_LENGTH).regex(/^grants\?\S+$/, 'must be grants, grants?<filter>, metrics or grant:<uuid>'),
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
/** What a `grant` frame says happened: a change event's op, or `leave` in a filtered view. */
export const FrameOp = z.enum([...ChangeOp.options, 'leave']);
export type FrameOp = z.infer<typeof FrameOp>;

/**
 * A change, as a client receives it: the change event without its bus-only fields, with
 * `topic` on the frames of a filtered view. `grant` is the row after the change (also on a
 * `leave`: the grant still exists, it no longer matches), null on `delete`.
 */
export const GrantFrame = z
  .object({
    type: z.literal('grant'),
    topic: Topic.optional(),
    seq: Seq.refine((n) => n > 0, 'must be positive'),
    op: FrameOp,
    id: GrantId,
    version: z.number().int().positive(),
    grant: Grant.nullable(),
    committedAt: z.iso.datetime({ offset: true }),
  })
  .refine((f) => (f.op === 'delete') === (f.grant === null), { message: 'grant is null exactly when op is delete', path: ['grant'] });
export const SubscribedFrame = z.object({ type: z.literal('subscribed'), topic: Topic, seq: Seq, recovered: z.boolean(), ref: Ref });
export const UnsubscribedFrame = z.object({ type: z.literal('unsubscribed'), topic: Topic, ref: Ref });
export const PongFrame = z.object({ type: z.literal('pong'), ref: Ref });
export const AuthOkFrame = z.object({ type: z.literal('auth_ok'), expiresAt: z.number().int(), ref: Ref });
export const ExpiringFrame = z.object({ type: z.literal('expiring'), expiresAt: z.number().int() });
export const MetricsFrame = z.looseObject({ type: z.literal('metrics'), connections: z.number().int(), at: z.iso.datetime({ offset: true }) });
/** `code` is a FrameError; a client accepts any string (a newer server may send a new code). */
export const ErrorFrame = z.object({ type: z.literal('error'), code: z.string(), message: z.string(), ref: Ref });

export const ServerFrame = z.union([WelcomeFrame, GrantFrame, SubscribedFrame, UnsubscribedFrame, PongFrame, AuthOkFrame, ExpiringFrame, MetricsFrame, ErrorFrame]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type GrantFrame = z.infer<typeof GrantFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type Ref = z.infer<typeof Ref>;

// --- server frame builders -------------------------------------------------------------
// The only way the server writes a frame. Each object `satisfies` the type of its schema,
// so a frame that drifts from the contract is a compile error, not a client's surprise.

const withRef = (ref: Ref) => (ref === undefined ? {} : { ref });

/** The answer to a `ping` without `ref`, built once: it is the most frequent frame a client asks for. */
export const PONG = JSON.stringify({ type: 'pong' } satisfies z.infer<typeof PongFrame>);

export const serverFrame = {
  welcome: (session: string, heartbeatMs: number, expiresAt: number): string =>
    JSON.stringify({ type: 'welcome', session, heartbeatMs, expiresAt } satisfies z.infer<typeof WelcomeFrame>),
  subscribed: (topic: Topic, seq: number, recovered: boolean, ref: Ref): string =>
    JSON.stringify({ type: 'subscribed', topic, seq, recovered, ...withRef(ref) } satisfies z.infer<typeof SubscribedFrame>),
  unsubscribed: (topic: Topic, ref: Ref): string => JSON.stringify({ type: 'unsubscribed', topic, ...withRef(ref) } satisfies z.infer<typeof UnsubscribedFrame>),
  pong: (ref: Ref): string => (ref === undefined ? PONG : JSON.stringify({ type: 'pong', ref } satisfies z.infer<typeof PongFrame>)),
  authOk: (expiresAt: number, ref: Ref): string => JSON.stringify({ type: 'auth_ok', expiresAt, ...withRef(ref) } satisfies z.infer<typeof AuthOkFrame>),
  expiring: (expiresAt: number): string => JSON.stringify({ type: 'expiring', expiresAt } satisfies z.infer<typeof ExpiringFrame>),
  metrics: (fields: { at: string; connections: number; subjects: number; head: number }): string =>
    JSON.stringify({ type: 'metrics', ...fields } satisfies z.infer<typeof MetricsFrame>),
  error: (code: FrameError, message: string, ref: Ref): string => JSON.stringify({ type: 'error', code, message, ...withRef(ref) } satisfies ErrorFrame),
  /**
   * The `grant` frame of a change event, for everyone on `grants` or `grant:<id>` (no
   * `topic`), or for a filtered view (its canonical `topic`, and `op` as the view sees it).
   * Built once per event and view, never per client.
   */
  grant: (event: ChangeEvent, view?: { topic: string; op: FrameOp }): string =>
    JSON.stringify({
      type: 'grant',
      ...(view ? { topic: view.topic } : {}),
      seq: event.seq,
      op: view?.op ?? event.op,
      id: event.id,
      version: event.version,
      grant: event.grant,
      committedAt: event.committedAt,
    } satisfies z.input<typeof GrantFrame>),
} as const;
