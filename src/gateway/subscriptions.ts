/**
 * `subscribe` and `unsubscribe` (CONTRACT section 5), and the resume with `since`.
 *
 * # Delivery paths
 * Each event is published once into uWS topics `grants` and `grant:<id>`; uWS fans it out
 * natively. A connection subscribed to `grants` is not also subscribed in uWS to its
 * `grant:<id>` topics, so it receives each event once (`goLive`).
 *
 * A filtered view `grants?<filter>` is a uWS topic of its own, named by its canonical form
 * (views.ts); its frames carry that topic and are built once per event for all its holders.
 *
 * # Resume
 * `subscribe` with `since` answers `subscribed` (seq = since), replays the topic's events
 * up to the feed's head at that moment (from the feed's window of recent events when the
 * gap lies within it, GATEWAY_REPLAY_WINDOW, else from the stream), then sends what arrived live
 * meanwhile (held by `hold`), then joins the uWS topic, all before the next event can be
 * dispatched: no gap and no repeat at the seam. A filtered view replays every event of the
 * range and sends those that concern it, `leave`s included.
 */
import { CloseCode, FrameError, LogCode } from '../domain/codes.js';
import { serverFrame, type Ref, type Topic } from '../domain/frames.js';
import type { GrantFilter } from '../domain/filter.js';
import { canReadMetrics } from '../domain/token.js';
import type { ChangeFeed, FeedEvent, ReplayScope } from '../feed/types.js';
import type { Logger } from '../observability/log.js';
import { stateOf, type Socket } from './connection.js';
import { addTopic, deleteTopic, hasTopic, topicCount, topicsOf } from './topics.js';
import type { GatewayOptions } from './gateway.js';
import type { Sockets } from './sockets.js';
import { canonicalTopic, Views } from './views.js';

/** How long a `since` ahead of this feed may wait for the feed to catch up (a client from another gateway). */
const AHEAD_WAIT_MS = 2_000;

export class Subscriptions {
  /** Topic -> connections replaying it, whose live frames must wait. */
  private readonly replays = new Map<string, Set<Socket>>();

  constructor(
    private readonly options: GatewayOptions,
    private readonly feed: ChangeFeed,
    private readonly views: Views,
    private readonly sockets: Sockets,
    private readonly log: Logger,
  ) {}

  /** Topics being replayed to someone (tests check none is left behind). */
  get replaying(): number {
    return this.replays.size;
  }

  /**
   * Without `since` (or at the head), the subscription is live at once, in this call: no
   * promise and no closure (issue 15: a handshake's garbage). A resume goes on in `resume`.
   */
  subscribe(ws: Socket, requested: Topic, since: number | undefined, ref: Ref): void {
    const canonical = canonicalTopic(requested);
    if ('error' in canonical) return this.sockets.error(ws, FrameError.BadFilter, canonical.error.message.slice(0, 200), ref);
    const topic = canonical.topic as Topic;
    const c = stateOf(ws);
    if (topic === 'metrics') {
      if (!canReadMetrics(c.role)) return this.sockets.error(ws, FrameError.Forbidden, 'the metrics topic needs role monitor or admin', ref);
      if (!hasTopic(c, topic) && topicCount(c) >= this.options.GATEWAY_MAX_SUBSCRIPTIONS) return this.tooMany(ws, ref);
      addTopic(c, topic);
      ws.subscribe('metrics');
      return this.answer(ws, topic, this.feed.head, true, ref);
    }
    if (hasTopic(c, topic)) return this.answer(ws, topic, this.feed.head, true, ref); // already live: nothing was missed
    if (topicCount(c) >= this.options.GATEWAY_MAX_SUBSCRIPTIONS) return this.tooMany(ws, ref);
    addTopic(c, topic);
    if (canonical.filter) this.views.hold(topic, canonical.filter);
    const head = this.feed.head;
    if (since === undefined || since === head) {
      this.goLive(ws, topic);
      return this.answer(ws, topic, head, true, ref);
    }
    void this.resume(ws, topic, canonical.filter, since, ref);
  }

  private answer(ws: Socket, topic: Topic, seq: number, recovered: boolean, ref: Ref): void {
    this.sockets.send(ws, serverFrame.subscribed(topic, seq, recovered, ref));
  }

  /** `subscribe` with a `since` behind or ahead of the feed's head: replays the gap, or says it cannot. */
  private async resume(ws: Socket, topic: Topic, filter: GrantFilter | undefined, since: number, ref: Ref): Promise<void> {
    const c = stateOf(ws);
    let first: number;
    try {
      // A gap within the feed's window of recent events needs no trip to the stream.
      first = this.feed.covers?.(since) ? since + 1 : await this.feed.firstSeq();
    } catch (err) {
      return this.replayFailed(ws, err);
    }
    if (c.closed || c.closing || !hasTopic(c, topic)) return;
    if (since > this.feed.head) {
      // A client coming from another gateway may have seen events this feed has not yet
      // delivered: give the feed a moment to catch up. A position far beyond, or still not
      // reached, is one this stream never had: refused, so that the client starts afresh.
      if (since - this.feed.head <= this.options.GATEWAY_REPLAY_LIMIT) await this.feed.reached(since, AHEAD_WAIT_MS, (c.waiting ??= new AbortController()).signal);
      if (c.closed || c.closing || !hasTopic(c, topic)) return;
      if (since > this.feed.head) {
        this.drop(ws, topic, filter !== undefined);
        return this.sockets.error(ws, FrameError.BadSince, `since ${since} is beyond this stream's head (${this.feed.head}); subscribe without since and reload`, ref);
      }
    }
    if (since < first - 1 || this.feed.head - since > this.options.GATEWAY_REPLAY_LIMIT) {
      // Outside the resume window (or a position this stream never had): reload from REST.
      this.goLive(ws, topic);
      return this.answer(ws, topic, this.feed.head, false, ref);
    }
    // Replay (since, until], with live frames of the topic held back meanwhile.
    const until = this.feed.head;
    (c.replaying ??= new Map()).set(topic, []);
    let set = this.replays.get(topic);
    if (!set) this.replays.set(topic, (set = new Set()));
    set.add(ws);
    this.answer(ws, topic, since, true, ref);
    const scope: ReplayScope = topic.startsWith('grant:') ? { grant: topic.slice('grant:'.length) } : 'all';
    const frameOf = (event: FeedEvent) => (filter ? Views.frameFor(topic, filter, event) : event.frame);
    let complete: boolean;
    try {
      complete = await this.feed.replay(scope, since, until, (event) => {
        if (!hasTopic(c, topic)) return false;
        const frame = frameOf(event);
        return frame === undefined || this.sockets.send(ws, frame);
      });
    } catch (err) {
      this.leaveReplay(ws, topic);
      return this.replayFailed(ws, err);
    }
    const held = c.replaying?.get(topic);
    this.leaveReplay(ws, topic);
    if (!complete || c.closed || c.closing || !hasTopic(c, topic) || !held) return;
    for (const frame of held) if (!this.sockets.send(ws, frame)) return;
    this.goLive(ws, topic);
  }

  unsubscribe(ws: Socket, requested: Topic, ref: Ref): void {
    const canonical = canonicalTopic(requested);
    if ('error' in canonical) return this.sockets.error(ws, FrameError.BadFilter, canonical.error.message.slice(0, 200), ref);
    const topic = canonical.topic as Topic;
    const c = stateOf(ws);
    if (!deleteTopic(c, topic)) return this.sockets.error(ws, FrameError.NotSubscribed, `not subscribed to ${topic}`, ref);
    if (canonical.filter) this.views.release(topic);
    this.leaveReplay(ws, topic);
    ws.unsubscribe(topic);
    if (topic === 'grants') for (const t of topicsOf(c)) if (t.startsWith('grant:') && !c.replaying?.has(t)) ws.subscribe(t);
    this.sockets.send(ws, serverFrame.unsubscribed(topic, ref));
  }

  /** Forgets a topic the connection asked for but does not get. */
  private drop(ws: Socket, topic: string, view: boolean): void {
    deleteTopic(stateOf(ws), topic);
    if (view) this.views.release(topic);
  }

  /** The token's new role no longer reads metrics: the topic is dropped and the client told. */
  dropMetrics(ws: Socket): void {
    const c = stateOf(ws);
    if (!hasTopic(c, 'metrics') || canReadMetrics(c.role)) return;
    deleteTopic(c, 'metrics');
    ws.unsubscribe('metrics');
    this.sockets.send(ws, serverFrame.unsubscribed('metrics', undefined));
  }

  /** Holds a live event back from the connections replaying its topics. */
  hold(event: FeedEvent): void {
    if (this.replays.size === 0) return;
    this.holdFrame(['grants', event.frame]);
    this.holdFrame([`grant:${event.id}`, event.frame]);
    for (const entry of this.views.framesFor(event)) this.holdFrame(entry);
  }

  private holdFrame([topic, frame]: readonly [string, string]): void {
    const waiting = this.replays.get(topic);
    if (!waiting) return;
    for (const ws of waiting) {
      const held = stateOf(ws).replaying?.get(topic);
      if (!held) continue;
      held.push(frame);
      if (held.length > this.options.GATEWAY_REPLAY_LIMIT) this.sockets.kill(ws, CloseCode.TooSlow);
    }
  }

  /** The subscriptions' part of the one cleanup (gateway.ts). */
  released(ws: Socket): void {
    const c = stateOf(ws);
    c.waiting?.abort();
    if (c.replaying) {
      for (const topic of c.replaying.keys()) this.leaveReplay(ws, topic);
      c.replaying = undefined;
    }
    for (const topic of topicsOf(c)) if (topic.startsWith('grants?')) this.views.release(topic);
    c.topics = undefined;
  }

  private tooMany(ws: Socket, ref: Ref): void {
    this.sockets.error(ws, FrameError.TooManySubscriptions, `at most ${this.options.GATEWAY_MAX_SUBSCRIPTIONS} subscriptions per connection`, ref);
  }

  private replayFailed(ws: Socket, err: unknown): void {
    this.log.warn({ code: LogCode.GatewayReplayFailed, err }, 'could not replay for a resuming client; asking it to reconnect');
    // 1001: the client reconnects and resumes again from the same position.
    if (!stateOf(ws).closed) this.sockets.kill(ws, CloseCode.ServerShutdown);
  }

  private leaveReplay(ws: Socket, topic: string): void {
    stateOf(ws).replaying?.delete(topic);
    const set = this.replays.get(topic);
    set?.delete(ws);
    if (set?.size === 0) this.replays.delete(topic);
  }

  /** Joins the uWS topic, keeping one delivery path per event (see the module comment). */
  private goLive(ws: Socket, topic: string): void {
    const c = stateOf(ws);
    if (c.closed || c.closing) return;
    if (topic === 'grants') {
      ws.subscribe('grants');
      // One topic held is this one: nothing else to leave (and no array made for it).
      if (typeof c.topics === 'object') for (const t of topicsOf(c)) if (t.startsWith('grant:')) ws.unsubscribe(t);
    } else if (!ws.isSubscribed('grants')) {
      ws.subscribe(topic);
    }
  }
}
