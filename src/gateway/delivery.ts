/**
 * Delivery of change events to subscribed clients, and the backpressure that keeps a slow
 * client from holding unbounded memory.
 *
 * # Backpressure
 * uWS buffers what a client has not read. A sweep (each time an eighth of GATEWAY_MAX_BUFFER
 * was published, and on the heartbeat tick) closes with 4009 every connection buffering
 * more than GATEWAY_MAX_BUFFER; uWS's own limit (gateway.ts) is only the hard stop, so
 * memory stays bounded even between sweeps.
 */
import { CloseCode } from '../domain/codes.js';
import type { FeedEvent } from '../feed/types.js';
import type { TemplatedApp } from '../http/uws.js';
import type { Metrics } from '../observability/metrics.js';
import type { Sockets } from './sockets.js';
import type { Subscriptions } from './subscriptions.js';
import type { Views } from './views.js';

export class Delivery {
  private publishedSinceSweep = 0;

  constructor(
    private readonly app: TemplatedApp,
    /** GATEWAY_MAX_BUFFER. */
    private readonly maxBuffer: number,
    private readonly sockets: Sockets,
    private readonly subscriptions: Subscriptions,
    private readonly views: Views,
    private readonly metrics: Metrics,
  ) {}

  /** One event of the feed, to everyone subscribed to `grants`, to its grant, or to a view it concerns. */
  dispatch(event: FeedEvent): void {
    this.subscriptions.hold(event);
    const own = `grant:${event.id}`;
    const deliveries = this.app.numSubscribers('grants') + this.app.numSubscribers(own);
    if (deliveries > 0) {
      this.app.publish('grants', event.frame);
      this.app.publish(own, event.frame);
      this.published(deliveries, event.frame.length);
    }
    for (const [topic, frame] of this.views.framesFor(event)) {
      const holders = this.app.numSubscribers(topic);
      if (holders === 0) continue;
      this.app.publish(topic, frame);
      this.published(holders, frame.length);
    }
  }

  private published(deliveries: number, bytes: number): void {
    this.metrics.wsMessagesSent.inc(deliveries);
    // No client can have gained more than what was published since the last sweep: sweep
    // for slow clients whenever that reaches an eighth of the bound (a slow client is closed
    // at most that far past the bound).
    this.publishedSinceSweep += bytes;
    if (this.publishedSinceSweep > this.maxBuffer / 8) this.sweep();
  }

  /** Closes every client buffering more than the bound with 4009. */
  sweep(): void {
    this.publishedSinceSweep = 0;
    for (const ws of this.sockets.open) if (ws.getBufferedAmount() > this.maxBuffer) this.sockets.kill(ws, CloseCode.TooSlow);
  }

  /** The heartbeat tick checked every connection's buffer itself. */
  swept(): void {
    this.publishedSinceSweep = 0;
  }
}
