/**
 * Filtered views (CONTRACT v1.1 section 5): the `grants?<filter>` topics some connection
 * holds, and, for each change event, the frame each of them gets.
 *
 * # Cost
 * Each distinct canonical filter is evaluated once per event, however many connections
 * hold it: `framesFor` walks the views, not the subscribers, and is computed once per event
 * (the delivery, the replays that hold frames back and the SSE streams all read the same
 * result). Case folding of an event's texts is shared by every filter with `q`.
 *
 * # Entering and leaving
 * Decided from the event alone (domain/filter.ts `viewChange`): the grant after the change,
 * and before it, rebuilt from the event's `previous` fields. No database read, ever.
 */
import { type ChangeEvent } from '../domain/events.js';
import { FILTER_FIELDS, FilterError, foldCase, parseViewTopic, viewChange, viewTopic, type FilterFields, type GrantFilter } from '../domain/filter.js';
import { serverFrame } from '../domain/frames.js';
import type { FeedEvent } from '../feed/types.js';

/** A topic as a client wrote it, brought to the one form the gateway uses. */
export type Canonical = { topic: string; filter?: GrantFilter } | { error: FilterError };

/**
 * The canonical form of a topic: `grant:<id>` in lower case (events are published under
 * the lower-case id), `grants?<filter>` with its filter parsed and its query canonical
 * (`grants` when the filter is empty), anything else as it is.
 */
export function canonicalTopic(topic: string): Canonical {
  if (topic.startsWith('grant:')) return { topic: topic.toLowerCase() };
  if (!topic.startsWith('grants?')) return { topic };
  try {
    const filter = parseViewTopic(topic);
    const canonical = viewTopic(filter);
    return canonical === 'grants' ? { topic: canonical } : { topic: canonical, filter };
  } catch (err) {
    if (err instanceof FilterError) return { error: err };
    throw err;
  }
}

/** The grant's filter fields before the change, when the event says; undefined when unknown. */
export function fieldsBefore(change: ChangeEvent): FilterFields | null | undefined {
  if (change.op === 'insert') return null;
  const previous = change.previous;
  if (previous === undefined) return undefined;
  if (change.op === 'update' && change.grant) return { ...pickFields(change.grant), ...previous };
  // A delete carries every field; one that lacks some cannot be judged.
  return FILTER_FIELDS.every((f) => f in previous) ? (previous as FilterFields) : undefined;
}

function pickFields(grant: FilterFields): FilterFields {
  const out = {} as Record<string, unknown>;
  for (const f of FILTER_FIELDS) out[f] = grant[f];
  return out as unknown as FilterFields;
}

export class Views {
  private readonly views = new Map<string, { filter: GrantFilter; holders: number }>();
  private memo: { seq: number; frames: Map<string, string> } | undefined;

  /** A connection (or SSE stream) holds `topic` from now on. */
  hold(topic: string, filter: GrantFilter): void {
    const view = this.views.get(topic);
    if (view) view.holders++;
    else this.views.set(topic, { filter, holders: 1 });
  }

  /** One holder of `topic` let it go. */
  release(topic: string): void {
    const view = this.views.get(topic);
    if (!view) return;
    if (--view.holders === 0) this.views.delete(topic);
  }

  /** The filter of a held view. */
  filterOf(topic: string): GrantFilter | undefined {
    return this.views.get(topic)?.filter;
  }

  /** Distinct views held now. */
  get size(): number {
    return this.views.size;
  }

  /** The frame of each held view that `event` concerns, computed once per event. */
  framesFor(event: FeedEvent): ReadonlyMap<string, string> {
    if (this.memo?.seq === event.seq) return this.memo.frames;
    const frames = new Map<string, string>();
    if (this.views.size > 0) {
      const fold = memoFold();
      const change = event.change;
      const before = fieldsBefore(change);
      for (const [topic, view] of this.views) {
        const op = viewChange(view.filter, change.op, change.grant, before, fold);
        if (op) frames.set(topic, serverFrame.grant(change, { topic, op }));
      }
    }
    this.memo = { seq: event.seq, frames };
    return frames;
  }

  /** The frame one view gets for `event`, without touching the shared memo (replays). */
  static frameFor(topic: string, filter: GrantFilter, event: FeedEvent): string | undefined {
    const op = viewChange(filter, event.change.op, event.change.grant, fieldsBefore(event.change));
    return op ? serverFrame.grant(event.change, { topic, op }) : undefined;
  }
}

function memoFold(): (text: string) => string {
  const folded = new Map<string, string>();
  return (text) => {
    let f = folded.get(text);
    if (f === undefined) folded.set(text, (f = foldCase(text)));
    return f;
  };
}
