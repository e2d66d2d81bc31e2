/**
 * Sends `ping` every heartbeatMs (browsers cannot send protocol pings) and drops the
 * socket when nothing at all arrived for 2 x heartbeatMs: the server then counts as dead
 * even though TCP may not notice for minutes.
 */
import type { Connection } from './connection.js';
import type { Timers } from './timers.js';

/** The ping loop and the silence watchdog of the current connection (timers 'ping' and 'watchdog'). */
export class Heartbeat {
  private intervalMs = 0;
  private lastHeard = 0;

  constructor(
    private readonly timers: Timers,
    private readonly link: Pick<Connection, 'welcomed' | 'send' | 'drop'>,
  ) {}

  /** Something arrived from the server (or the socket opened). */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /** Starts both timers for a connection whose `welcome` set `intervalMs`. */
  start(intervalMs: number): void {
    this.intervalMs = intervalMs;
    const tick = () => {
      this.link.send({ type: 'ping' });
      this.timers.set('ping', intervalMs, tick);
    };
    this.timers.set('ping', intervalMs, tick);
    this.armWatchdog();
  }

  stop(): void {
    this.timers.cancel('ping');
    this.timers.cancel('watchdog');
  }

  private armWatchdog(): void {
    const silence = 2 * this.intervalMs;
    // Re-armed lazily from lastHeard, so a busy connection costs no timer work per frame.
    this.timers.set('watchdog', this.lastHeard + silence - Date.now(), () => {
      if (!this.link.welcomed) return;
      if (Date.now() - this.lastHeard >= silence) this.link.drop('heartbeat timeout');
      else this.armWatchdog();
    });
  }
}
