/**
 * The connection indicator both pages show (role=status, so screen readers hear changes):
 * live (and over which transport), reconnecting, or offline with when the page last heard
 * of a change. `data-state` is `live` | `connecting` | `reconnecting` | `offline`.
 */
import type { ConnectionState, LiveClient } from '../client/index.js';
import { formatTime } from './format.js';

export class Indicator {
  private updatedAt: Date | undefined;
  private state: ConnectionState = 'connecting';
  private detail = '';

  constructor(
    private readonly el: HTMLElement,
    private readonly client: LiveClient,
  ) {
    client.on('state', (state) => {
      this.state = state;
      this.render();
    });
    addEventListener('online', () => this.render());
    addEventListener('offline', () => this.render());
  }

  /** The page heard of a change (or loaded a snapshot) now. */
  touched(): void {
    this.updatedAt = new Date();
    if (this.state !== 'open') this.render();
  }

  /** Why the page stopped for good (a token that cannot be renewed, say). */
  stopped(detail: string): void {
    this.detail = detail;
    this.render();
  }

  private render(): void {
    const since = this.updatedAt ? ` — updated at ${formatTime(this.updatedAt)}` : '';
    let state: string;
    let text: string;
    if (this.state === 'open' && navigator.onLine) {
      state = 'live';
      text = this.client.transport === 'sse' ? 'Live (server-sent events)' : 'Live';
    } else if (this.state === 'connecting') {
      state = 'connecting';
      text = 'Connecting…';
    } else if (this.state === 'reconnecting' && navigator.onLine) {
      state = 'reconnecting';
      text = `Reconnecting…${since}`;
    } else {
      state = 'offline';
      text = `Offline${this.detail ? ` (${this.detail})` : ''}${since}`;
    }
    this.el.dataset.state = state;
    this.el.textContent = text;
  }
}
