/**
 * Per-connection state, kept in uWebSockets.js's user data. All of it is released by the
 * one close handler (gateway.ts), whichever way the connection ends; `closed` is set there,
 * and every deferred action (a replay, a timer's send) checks it first, because uWS throws
 * on any use of a closed socket.
 *
 * # Memory (issue 15: an idle connection subscribed to `grants`, held at 15,000)
 * What a gateway keeps per connection beyond bare uWS is this state, so its layout is
 * chosen for size; every figure is from a heap snapshot of 15,000 connections.
 * - One property. uWS copies the user data's properties onto its own socket object, which
 *   V8 keeps as a dictionary: 17 fields there cost 831 B. The state is therefore one object
 *   under one property (`Held.c`, read through `stateOf`).
 * - Twelve fields, all in the object (a class, so V8 lays them out in the object itself).
 * - No heap numbers. V8 keeps a number field in the object itself only while it holds a
 *   small integer (a Smi, under 2^31); a millisecond timestamp or a fraction is a separate
 *   heap number, 16 B each: six cost 96 B a connection. The times are therefore whole
 *   milliseconds since this module loaded (`EPOCH`), and the rate limit's allowance whole
 *   thousandths of a frame; the accessors below read and write them as before (ms since
 *   the epoch, frames). After 24 days of uptime a time no longer fits a Smi: it is still
 *   exact, and costs its 16 B again (a token expiring 24 days after start already does).
 * - `closed`, `closing`, `expiringSent` and the role are bits of one small integer.
 * - The session id is not stored: it is made from a prefix random to the process (192
 *   bits) and the connection's number when it is needed (the welcome frame, logs). A UUID
 *   string cost 56 B a connection. The prefix is long on purpose: with a 10-character
 *   session id (a welcome frame of 88 bytes instead of 114), uWS dropped 3 to 4 in 10
 *   connections of an in-process test (server and `ws` client in one process) without a
 *   close frame right after `open`, before the client saw the upgrade; with 34 characters,
 *   none in 10 runs. The cause inside uWS was not found.
 * - A wait on the feed, the topics being replayed and a pending close, which few
 *   connections ever have, sit in a side object made on first use.
 * - A gateway's open connections are an array indexed by slot (`OpenSockets`), not a Set.
 */
import { randomBytes } from 'node:crypto';
import type { CloseCode } from '../domain/codes.js';
import { TOKEN_ROLES, type TokenRole } from '../domain/token.js';
import type { WebSocket } from '../http/uws.js';
import type { TopicHolder } from './topics.js';

const CLOSED = 1;
const CLOSING = 2;
const EXPIRING_SENT = 4;
const ROLE_SHIFT = 3;

/** The base of the times kept (see the module comment). */
const EPOCH = Date.now();
const MILLI = 1_000;

/**
 * Connection slots: small numbers reused after close, so that `OpenSockets` can hold a
 * gateway's connections in an array.
 */
const slots = {
  /** Slots given back, reused first. */
  free: [] as number[],
  /** Slots ever handed out. */
  used: 0,
};

function takeSlot(): number {
  return slots.free.pop() ?? slots.used++;
}

/** Slots in use, for tests: every closed connection must give its slot back. */
export function slotsInUse(): number {
  return slots.used - slots.free.length;
}

const SESSION_PREFIX = randomBytes(24).toString('base64url');
let connections = 0;

/** What few connections ever need. */
interface Rare {
  /** Aborted by the close handler: waits on the feed end with the connection. */
  waiting?: AbortController | undefined;
  /** Topics being replayed: live frames that arrive meanwhile wait here, in order. */
  replaying?: Map<string, string[]> | undefined;
  /** A close decided while the client was not reading: sent once it reads again (sockets.ts). */
  pendingClose?: CloseCode | undefined;
  /** When a pending close gives up on the client and drops the connection (ms since the epoch). */
  closeBy?: number;
}

export interface ConnectionInit {
  sub: string;
  role: TokenRole;
  /** Token expiry, ms since the epoch. */
  expiresAt: number;
  /** When `expiring` is due, ms since the epoch. */
  expiringAt: number;
  /** Now, ms since the epoch. */
  now: number;
  /** The rate limit's bucket, full. */
  allowance: number;
}

export class Connection implements TopicHolder {
  /** Its number in this process, from 1. */
  readonly number: number;
  readonly sub: string;
  topics: string | Set<string> | undefined = undefined;
  private index: number;
  private flags: number;
  private rare: Rare | undefined = undefined;
  /** Times, whole ms since EPOCH. */
  private expires: number;
  private expiring: number;
  private heard: number;
  private pinged: number;
  private refilled: number;
  /** The rate limit's bucket, in thousandths of a frame. */
  private milli: number;

  constructor(init: ConnectionInit) {
    this.number = ++connections;
    this.sub = init.sub;
    this.flags = TOKEN_ROLES.indexOf(init.role) << ROLE_SHIFT;
    this.index = takeSlot();
    this.expires = since(init.expiresAt);
    this.expiring = since(init.expiringAt);
    this.heard = since(init.now);
    this.pinged = this.heard;
    this.refilled = this.heard;
    this.milli = Math.floor(init.allowance * MILLI);
  }

  /** Its slot, -1 once released. */
  get slot(): number {
    return this.index;
  }

  /** Gives the slot back (the close handler, once). Idempotent. */
  release(): void {
    if (this.index < 0) return;
    slots.free.push(this.index);
    this.index = -1;
  }

  get session(): string {
    return `${SESSION_PREFIX}.${this.number.toString(36)}`;
  }

  get role(): TokenRole {
    return TOKEN_ROLES[this.flags >> ROLE_SHIFT]!;
  }

  set role(role: TokenRole) {
    this.flags = (this.flags & ((1 << ROLE_SHIFT) - 1)) | (TOKEN_ROLES.indexOf(role) << ROLE_SHIFT);
  }

  /** Set by the close handler; nothing may touch the socket after. */
  get closed(): boolean {
    return (this.flags & CLOSED) !== 0;
  }

  set closed(on: boolean) {
    this.flag(CLOSED, on);
  }

  /** Set when the server started closing it; its close handler has not run yet. */
  get closing(): boolean {
    return (this.flags & CLOSING) !== 0;
  }

  set closing(on: boolean) {
    this.flag(CLOSING, on);
  }

  get expiringSent(): boolean {
    return (this.flags & EXPIRING_SENT) !== 0;
  }

  set expiringSent(on: boolean) {
    this.flag(EXPIRING_SENT, on);
  }

  /** Token expiry, ms since the epoch. */
  get expiresAt(): number {
    return EPOCH + this.expires;
  }

  set expiresAt(ms: number) {
    this.expires = since(ms);
  }

  /** When `expiring` is due, ms since the epoch (a quarter of the lifetime, at most the configured notice). */
  get expiringAt(): number {
    return EPOCH + this.expiring;
  }

  set expiringAt(ms: number) {
    this.expiring = since(ms);
  }

  get lastHeard(): number {
    return EPOCH + this.heard;
  }

  set lastHeard(ms: number) {
    this.heard = since(ms);
  }

  get lastPing(): number {
    return EPOCH + this.pinged;
  }

  set lastPing(ms: number) {
    this.pinged = since(ms);
  }

  /** Token bucket of the inbound rate limit. */
  get allowance(): number {
    return this.milli / MILLI;
  }

  set allowance(frames: number) {
    this.milli = Math.floor(frames * MILLI);
  }

  /**
   * The tick's reads (heartbeat.ts), against `clock = clockOf(Date.now())`: small integers
   * only, so that a tick over every connection allocates nothing (the getters above return
   * times past 2^31 ms, a heap number each when not inlined: issue 15).
   */
  expiredBy(clock: number): boolean {
    return clock >= this.expires;
  }

  expiringBy(clock: number): boolean {
    return clock >= this.expiring;
  }

  /** Milliseconds since a frame or pong was last heard. */
  silentFor(clock: number): number {
    return clock - this.heard;
  }

  /** Milliseconds since the last protocol ping. */
  unpingedFor(clock: number): number {
    return clock - this.pinged;
  }

  pingedAt(clock: number): void {
    this.pinged = clock;
  }

  get allowanceAt(): number {
    return EPOCH + this.refilled;
  }

  set allowanceAt(ms: number) {
    this.refilled = since(ms);
  }

  /** Aborted by the close handler: waits on the feed end with the connection. */
  get waiting(): AbortController | undefined {
    return this.rare?.waiting;
  }

  set waiting(controller: AbortController | undefined) {
    this.setRare('waiting', controller);
  }

  /** Topics being replayed: live frames that arrive meanwhile wait here, in order. */
  get replaying(): Map<string, string[]> | undefined {
    return this.rare?.replaying;
  }

  set replaying(held: Map<string, string[]> | undefined) {
    this.setRare('replaying', held);
  }

  /** A close decided while the client was not reading: sent once it reads again (sockets.ts). */
  get pendingClose(): CloseCode | undefined {
    return this.rare?.pendingClose;
  }

  set pendingClose(code: CloseCode | undefined) {
    this.setRare('pendingClose', code);
  }

  /** When a pending close gives up on the client and drops the connection (ms since the epoch). */
  get closeBy(): number {
    return this.rare?.closeBy ?? 0;
  }

  set closeBy(ms: number) {
    this.setRare('closeBy', ms);
  }

  /** Sets a rare part; the side object is made only for a value, not to clear one. */
  private setRare<K extends keyof Rare>(key: K, value: Rare[K]): void {
    if (value !== undefined || this.rare) (this.rare ??= {})[key] = value;
  }

  private flag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }
}

/** Whole ms since EPOCH; a time within a millisecond rounds up (a deadline is never early). */
function since(ms: number): number {
  return Math.ceil(ms - EPOCH);
}

/** A time (ms since the epoch) as the connection keeps its times, for the tick's reads. */
export const clockOf = since;

/** The user data handed to uWS at upgrade: the state under one property (see the module comment). */
export interface Held {
  readonly c: Connection;
}

export type Socket = WebSocket<Held>;

/** The state of a connection. */
export function stateOf(ws: Socket): Connection {
  return ws.getUserData().c;
}

/**
 * The open connections of a gateway, each at its slot: 8 B a connection where a Set took 37
 * (issue 15). Iterating skips the empty slots; a connection removed during an iteration is
 * not visited after its removal.
 */
export class OpenSockets implements Iterable<Socket> {
  private readonly at: (Socket | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(ws: Socket): void {
    const slot = stateOf(ws).slot;
    if (slot < 0) return;
    // Filled up to the slot one by one, so that V8 keeps the array packed, never sparse.
    while (this.at.length <= slot) this.at.push(undefined);
    if (this.at[slot] === undefined) this.count++;
    this.at[slot] = ws;
  }

  /** Before the connection's slot is released (the close handler). */
  delete(ws: Socket): boolean {
    const slot = stateOf(ws).slot;
    if (slot < 0 || this.at[slot] !== ws) return false;
    this.at[slot] = undefined;
    this.count--;
    return true;
  }

  /**
   * The connections by slot, `undefined` where none is: for the loops that run over every
   * connection often (the tick) and must not allocate, as the iterator's results do.
   */
  get bySlot(): readonly (Socket | undefined)[] {
    return this.at;
  }

  *[Symbol.iterator](): Iterator<Socket> {
    const at = this.at;
    for (let i = 0; i < at.length; i++) {
      const ws = at[i];
      if (ws !== undefined) yield ws;
    }
  }
}

/** When `expiring` is due: a quarter of the remaining lifetime before expiry, at most `noticeMs`. */
export function expiringAt(now: number, expiresAt: number, noticeMs: number): number {
  return expiresAt - Math.min(noticeMs, Math.max(0, (expiresAt - now) / 4));
}
