/**
 * A connection's state (connection.ts) keeps its times as whole milliseconds since a base,
 * its allowance in thousandths and its flags in one integer: every field must read back
 * what was written, and a closed connection must give its slot back.
 */
import { describe, expect, it } from 'vitest';
import { clockOf, Connection, OpenSockets, slotsInUse, type Socket } from '../../src/gateway/connection.js';
import { CloseCode } from '../../src/domain/codes.js';

const make = (i: number) =>
  new Connection({ sub: `s-${i}`, role: i % 3 === 0 ? 'admin' : i % 3 === 1 ? 'monitor' : 'viewer', expiresAt: 1_785_000_000_000 + i, expiringAt: 1_784_999_000_000 + i, now: 1_764_590_000_123 + i, allowance: 20 + i / 8 });

describe('connection state', () => {
  it('5,000 connections: every field reads back its own value, in whole ms; closed ones give their slot back for the next', () => {
    const before = slotsInUse();
    const all = Array.from({ length: 5_000 }, (_, i) => make(i));
    expect(slotsInUse() - before).toBe(5_000);
    all.forEach((c, i) => {
      expect(c.sub).toBe(`s-${i}`);
      expect(c.role).toBe(i % 3 === 0 ? 'admin' : i % 3 === 1 ? 'monitor' : 'viewer');
      expect(c.expiresAt).toBe(1_785_000_000_000 + i);
      expect(c.expiringAt).toBe(1_784_999_000_000 + i);
      expect(c.lastHeard).toBe(1_764_590_000_123 + i);
      expect(c.lastPing).toBe(1_764_590_000_123 + i);
      expect(c.allowance).toBe(20 + i / 8);
      expect(c.allowanceAt).toBe(1_764_590_000_123 + i);
      expect([c.closed, c.closing, c.expiringSent]).toEqual([false, false, false]);
    });
    // Every other one closes; new connections take the slots given back.
    const slotsOfClosed = new Set<number>();
    for (let i = 0; i < all.length; i += 2) {
      slotsOfClosed.add(all[i]!.slot);
      all[i]!.release();
      expect(all[i]!.slot).toBe(-1);
    }
    expect(slotsInUse() - before).toBe(2_500);
    const again = Array.from({ length: 2_500 }, (_, i) => make(10_000 + i));
    expect(slotsInUse() - before).toBe(5_000);
    expect(new Set(again.map((c) => c.slot))).toEqual(slotsOfClosed);
    for (let i = 1; i < all.length; i += 2) {
      const c = all[i]!;
      c.lastHeard = 1_764_590_100_000 + i;
      c.allowance -= 1;
      expect(c.lastHeard).toBe(1_764_590_100_000 + i);
      expect(c.allowance).toBe(19 + i / 8);
      expect(c.expiresAt).toBe(1_785_000_000_000 + i);
    }
    all[0]!.release(); // twice: nothing more is given back
    for (const c of [...all.filter((_, i) => i % 2 === 1), ...again]) c.release();
    expect(slotsInUse()).toBe(before);
  });

  it('a time within a millisecond rounds up, so that a deadline is never early; an allowance keeps thousandths', () => {
    const c = make(0);
    c.expiringAt = 1_784_999_000_000.25;
    expect(c.expiringAt).toBe(1_784_999_000_001);
    c.allowance = 1.9999;
    expect(c.allowance).toBe(1.999);
    c.allowance -= 1;
    expect(c.allowance).toBeCloseTo(0.999, 10);
    expect(c.allowance < 1).toBe(true);
    c.release();
  });

  it('flags, the role and the rare fields are independent of each other', () => {
    const c = make(1);
    c.closing = true;
    expect([c.closed, c.closing, c.expiringSent, c.role]).toEqual([false, true, false, 'monitor']);
    c.role = 'admin';
    c.expiringSent = true;
    expect([c.closed, c.closing, c.expiringSent, c.role]).toEqual([false, true, true, 'admin']);
    c.closing = false;
    c.closed = true;
    expect([c.closed, c.closing, c.expiringSent, c.role]).toEqual([true, false, true, 'admin']);
    expect([c.waiting, c.replaying, c.pendingClose, c.closeBy]).toEqual([undefined, undefined, undefined, 0]);
    c.replaying = undefined; // clearing what was never set makes nothing
    c.pendingClose = CloseCode.TooSlow;
    c.closeBy = 1_764_590_000_000;
    (c.replaying ??= new Map()).set('grants', []);
    expect([c.pendingClose, c.closeBy, [...c.replaying.keys()]]).toEqual([CloseCode.TooSlow, 1_764_590_000_000, ['grants']]);
    c.pendingClose = undefined;
    c.replaying = undefined;
    expect([c.pendingClose, c.replaying, c.closeBy]).toEqual([undefined, undefined, 1_764_590_000_000]);
    c.release();
  });

  it('session ids are unique, behind a prefix random to the process', () => {
    const sessions = Array.from({ length: 1_000 }, (_, i) => make(i));
    const ids = new Set(sessions.map((c) => c.session));
    expect(ids.size).toBe(1_000);
    const [prefix] = sessions[0]!.session.split('.');
    expect(prefix).toMatch(/^[A-Za-z0-9_-]{32}$/);
    for (const c of sessions) c.release();
  });

  it('open sockets: counted once, iterated without the removed ones, also when removed while iterating', () => {
    const conns = Array.from({ length: 50 }, (_, i) => make(i));
    const sockets = conns.map((c) => ({ getUserData: () => ({ c }) }) as unknown as Socket);
    const open = new OpenSockets();
    for (const ws of sockets) open.add(ws);
    open.add(sockets[3]!);
    expect(open.size).toBe(50);
    expect(open.delete(sockets[7]!)).toBe(true);
    expect(open.delete(sockets[7]!)).toBe(false);
    // Removing, while visiting the first, five that were not visited yet: they are not visited.
    const seen: Socket[] = [];
    const removed = new Set([7]);
    for (const ws of open) {
      if (seen.length === 0) {
        for (const i of [1, 11, 21, 31, 41].filter((i) => sockets[i] !== ws).slice(0, 5)) {
          open.delete(sockets[i]!);
          removed.add(i);
        }
      }
      seen.push(ws);
    }
    expect(seen).toHaveLength(50 - removed.size);
    expect(new Set(seen)).toEqual(new Set(sockets.filter((_, i) => !removed.has(i))));
    expect(open.size).toBe(50 - removed.size);
    // A released connection's slot may go to another: its socket is not mistaken for the new one.
    conns[7]!.release();
    const newcomer = make(99);
    const ws = { getUserData: () => ({ c: newcomer }) } as unknown as Socket;
    open.add(ws);
    expect(open.size).toBe(50 - removed.size + 1);
    expect([...open]).toContain(ws);
    for (const c of [...conns, newcomer]) c.release();
  });

  it("the tick's reads (small integers against clockOf) agree with the times in ms, on both sides of every bound", () => {
    const c = make(2);
    for (const delta of [-1, 0, 1]) {
      const at = (ms: number) => clockOf(ms + delta);
      expect({ delta, expired: c.expiredBy(at(c.expiresAt)) }).toEqual({ delta, expired: c.expiresAt + delta >= c.expiresAt });
      expect({ delta, expiring: c.expiringBy(at(c.expiringAt)) }).toEqual({ delta, expiring: c.expiringAt + delta >= c.expiringAt });
      expect({ delta, silent: c.silentFor(at(c.lastHeard + 50_000)) }).toEqual({ delta, silent: 50_000 + delta });
      expect({ delta, unpinged: c.unpingedFor(at(c.lastPing + 25_000)) }).toEqual({ delta, unpinged: 25_000 + delta });
    }
    const now = 1_764_590_030_000;
    c.pingedAt(clockOf(now));
    expect(c.lastPing).toBe(now);
    expect(c.unpingedFor(clockOf(now))).toBe(0);
    // Small integers: a time in the tick's units fits V8's 31-bit integers for 24 days of uptime.
    expect(Number.isInteger(clockOf(Date.now())) && Math.abs(clockOf(Date.now())) < 2 ** 30).toBe(true);
    c.release();
  });
});
