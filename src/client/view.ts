/**
 * `client.view(filter)`: a live, ordered collection of the grants that match a filter
 * (CONTRACT v1.1 sections 5 and 6).
 *
 * # Lifecycle
 * load: a REST snapshot of `GET /v1/grants?<filter>` (every page) and its `seq`, then the
 * filtered topic `grants?<filter>` from that `seq`. Frames that arrive while a snapshot
 * loads wait and are applied after it. `recovered: false` (the gap is outside the resume
 * window) loads the snapshot again. `close()` unsubscribes and lets go of everything.
 *
 * # Applying changes
 * Every change carries the grant's version, and a change is applied only when it is newer
 * than what the view holds or last removed: `insert` and `update` put the grant in,
 * `leave` and `delete` take it out. A snapshot page read after a change already holds its
 * version, so replaying that change from an earlier `seq` changes nothing: the view ends
 * equal to the database's `WHERE <filter>`, whatever order pages and frames came in.
 */
import { canonicalQuery, type GrantFilter } from '../domain/filter.js';
import type { Topic } from '../domain/frames.js';
import type { Grant } from '../domain/grant.js';
import { backoffDelay } from '../domain/backoff.js';
import { Emitter, type Listener } from './emitter.js';
import { ClientErrorCode, LiveError } from './errors.js';
import type { GrantFrame } from './events.js';
import type { Snapshot } from './reload.js';

/** What the view did with one change (or a reload). */
export interface ViewChange {
  op: 'insert' | 'update' | 'leave' | 'delete' | 'reload';
  /** The grant concerned (absent for a reload). */
  id?: string;
  /** The grant after the change; null when it left the view or was deleted. */
  grant: Grant | null;
}

export interface LiveViewEvents {
  /** The view's items changed (after the first snapshot). */
  change: ViewChange;
  /** A snapshot was loaded: the first time, and after each reload. */
  ready: { seq: number | undefined };
  error: LiveError;
}

export interface ViewOptions {
  /** Order of `items`; default: by id, as REST pages come. */
  compare?: (a: Grant, b: Grant) => number;
}

/** What a view needs of its client. */
export interface ViewHost {
  subscribe(topic: string, options: { since?: number }): void;
  unsubscribe(topic: string): void;
  onGrant(listener: Listener<GrantFrame>): () => void;
  snapshot(topic: Topic, signal: AbortSignal): Promise<Snapshot>;
  detach(view: LiveView): void;
}

/** Snapshot retries: the first after at most 1 s, then doubling up to 30 s. */
const RETRY = { baseMs: 1_000, maxMs: 30_000 };

export class LiveView extends Emitter<LiveViewEvents> {
  private readonly byId = new Map<string, Grant>();
  /** Versions of grants the view took out, so an older insert cannot bring them back. */
  private readonly gone = new Map<string, number>();
  private sorted: Grant[] | undefined;
  private held: GrantFrame[] | undefined = [];
  private loading: AbortController | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private closed = false;
  private readonly offGrant: () => void;
  private readonly compare: (a: Grant, b: Grant) => number;
  /** Resolves with the first snapshot; rejects if the view is closed first. */
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: LiveError) => void;

  constructor(
    readonly topic: Topic,
    private readonly host: ViewHost,
    options: ViewOptions = {},
  ) {
    super();
    this.compare = options.compare ?? ((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    // Listening before the snapshot: frames that come meanwhile wait in `held`.
    this.offGrant = host.onGrant((frame) => this.frame(frame));
    void this.load(true);
  }

  /** The grants of the view now, ordered. */
  get items(): readonly Grant[] {
    this.sorted ??= [...this.byId.values()].sort(this.compare);
    return this.sorted;
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Grant | undefined {
    return this.byId.get(id.toLowerCase());
  }

  /** The gateway could not resume the topic (`recovered: false`): load the snapshot again. */
  reload(): void {
    if (this.closed) return;
    this.held ??= [];
    void this.load(false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.loading?.abort();
    clearTimeout(this.retry);
    this.offGrant();
    this.host.detach(this);
    this.host.unsubscribe(this.topic);
    this.rejectReady(new LiveError(ClientErrorCode.Closed, 'the view was closed'));
  }

  private async load(first: boolean): Promise<void> {
    this.loading?.abort();
    const controller = new AbortController();
    this.loading = controller;
    let snapshot: Snapshot;
    try {
      snapshot = await this.host.snapshot(this.topic, controller.signal);
    } catch (err) {
      if (controller.signal.aborted || this.closed) return;
      this.emit('error', new LiveError(ClientErrorCode.ReloadFailed, `snapshot of ${this.topic} failed; retrying`, { cause: err, topic: this.topic }));
      this.retry = setTimeout(() => void this.load(first), backoffDelay(this.attempts++, RETRY));
      return;
    }
    if (controller.signal.aborted || this.closed) return;
    this.attempts = 0;
    this.loading = undefined;
    // Frames come in stream order from the snapshot's seq on: what was removed before it no
    // longer needs remembering.
    this.gone.clear();
    this.byId.clear();
    this.sorted = undefined;
    for (const grant of snapshot.items) {
      if ((this.gone.get(grant.id) ?? 0) >= grant.version) continue;
      this.byId.set(grant.id, grant);
    }
    if (first) this.host.subscribe(this.topic, snapshot.seq === undefined ? {} : { since: snapshot.seq });
    const held = this.held ?? [];
    this.held = undefined;
    for (const frame of held) this.apply(frame, first);
    this.emit('ready', { seq: snapshot.seq });
    if (first) this.resolveReady();
    else this.emit('change', { op: 'reload', grant: null });
  }

  private frame(frame: GrantFrame): void {
    if (this.closed || !this.concerns(frame)) return;
    if (this.held) this.held.push(frame);
    else this.apply(frame, false);
  }

  /** Frames of this view: those of its topic, or, for the unfiltered `grants`, those without one. */
  private concerns(frame: GrantFrame): boolean {
    return this.topic === 'grants' ? frame.topic === undefined : frame.topic === this.topic;
  }

  private apply(frame: GrantFrame, quiet: boolean): void {
    const id = frame.id.toLowerCase();
    const held = this.byId.get(id);
    if ((held?.version ?? 0) >= frame.version || (this.gone.get(id) ?? 0) >= frame.version) return;
    if (frame.op === 'insert' || frame.op === 'update') {
      if (!frame.grant) return;
      this.byId.set(id, frame.grant);
      this.gone.delete(id);
    } else {
      this.gone.set(id, frame.version);
      if (!held) return;
      this.byId.delete(id);
    }
    this.sorted = undefined;
    if (!quiet) this.emit('change', { op: frame.op, id, grant: frame.op === 'insert' || frame.op === 'update' ? frame.grant : null });
  }
}

/** The topic of a filter given as an object or a query string (`status=open&location=VIC`). */
export function filterQuery(filter: GrantFilter | string): string {
  return typeof filter === 'string' ? filter.replace(/^\?/, '') : canonicalQuery(filter);
}
