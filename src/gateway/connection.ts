/**
 * Per-connection state, kept in uWebSockets.js's user data. All of it is released by the
 * one close handler (gateway.ts), whichever way the connection ends; `closed` is set there,
 * and every deferred action (a replay, a timer's send) checks it first, because uWS throws
 * on any use of a closed socket.
 *
 * # One property
 * uWS copies the user data's properties onto its own socket object (`getUserData()` returns
 * the socket), and V8 keeps that object's properties in a dictionary: 17 fields there cost
 * 831 B a connection (heap snapshot, 15,000 connections). The state is therefore one plain
 * object under one property (`Held.c`, read through `stateOf`), which V8 lays out as a
 * compact fast object.
 */
import type { CloseCode } from '../domain/codes.js';
import type { TokenRole } from '../domain/token.js';
import type { WebSocket } from '../http/uws.js';

export interface Connection {
  session: string;
  sub: string;
  role: TokenRole;
  /** Token expiry, ms since the epoch. */
  expiresAt: number;
  /** When `expiring` is due, ms since the epoch (a quarter of the lifetime, at most the configured notice). */
  expiringAt: number;
  expiringSent: boolean;
  /**
   * Topics the client subscribed to (what it asked for, whatever uWS is subscribed to):
   * none, the one topic itself (what most clients hold), or a Set from the second on (a Set
   * costs 150 B). Read and changed through the topic functions below.
   */
  topics: string | Set<string> | undefined;
  /** Aborted by the close handler: waits on the feed end with the connection. */
  waiting: AbortController | undefined;
  /** Topics being replayed: live frames that arrive meanwhile wait here, in order. */
  replaying: Map<string, string[]> | undefined;
  lastHeard: number;
  lastPing: number;
  /** Token bucket of the inbound rate limit. */
  allowance: number;
  allowanceAt: number;
  /** Set by the close handler; nothing may touch the socket after. */
  closed: boolean;
  /** Set when the server started closing it; its close handler has not run yet. */
  closing: boolean;
  /** A close decided while the client was not reading: sent once it reads again (sockets.ts). */
  pendingClose: CloseCode | undefined;
  /** When a pending close gives up on the client and drops the connection (ms since the epoch). */
  closeBy: number;
}

/** The user data handed to uWS at upgrade: the state under one property (see the module comment). */
export interface Held {
  readonly c: Connection;
}

export type Socket = WebSocket<Held>;

/** The state of a connection. */
export function stateOf(ws: Socket): Connection {
  return ws.getUserData().c;
}

/** When `expiring` is due: a quarter of the remaining lifetime before expiry, at most `noticeMs`. */
export function expiringAt(now: number, expiresAt: number, noticeMs: number): number {
  return expiresAt - Math.min(noticeMs, Math.max(0, (expiresAt - now) / 4));
}

export function hasTopic(c: Connection, topic: string): boolean {
  const t = c.topics;
  return t === topic || (typeof t === 'object' && t.has(topic));
}

export function topicCount(c: Connection): number {
  const t = c.topics;
  return t === undefined ? 0 : typeof t === 'string' ? 1 : t.size;
}

export function addTopic(c: Connection, topic: string): void {
  const t = c.topics;
  if (t === undefined || t === topic) c.topics = topic;
  else if (typeof t === 'string') c.topics = new Set([t, topic]);
  else t.add(topic);
}

/** False when the connection did not hold `topic`. */
export function deleteTopic(c: Connection, topic: string): boolean {
  const t = c.topics;
  if (t === topic) {
    c.topics = undefined;
    return true;
  }
  return typeof t === 'object' && t.delete(topic);
}

/** A snapshot of the connection's topics (safe to change them while iterating it). */
export function topicsOf(c: Connection): string[] {
  const t = c.topics;
  return t === undefined ? [] : typeof t === 'string' ? [t] : [...t];
}
