/**
 * What the filtered phase's clients should receive for a planned sequence of changes,
 * worked out with the gateway's own rule (domain/filter.ts `viewChange`) before the
 * measured window: the count the drain waits for, and the check that the gateway
 * delivered exactly that.
 */
import { foldCase, matches, parseViewTopic, viewChange, type GrantFilter } from '../../src/domain/filter.js';
import type { Planned } from './commits.js';

export interface HeldView {
  topic: string;
  filter: GrantFilter;
  /** Clients subscribed to it. */
  holders: number;
}

export interface Expectation {
  /** Frames the clients should receive, all views together. */
  clientFrames: number;
  /** (view, event) pairs by what the view saw: the grant came in, changed within, or left. */
  viewFrames: { enter: number; stay: number; leave: number };
  /** Distinct views that received something, per event (mean). */
  viewsPerEvent: number;
}

export function heldViews(holders: ReadonlyMap<string, number>): HeldView[] {
  return [...holders].map(([topic, n]) => ({ topic, filter: parseViewTopic(topic), holders: n }));
}

export function expectFrames(views: readonly HeldView[], planned: readonly Planned[]): Expectation {
  const folded = new Map<string, string>();
  const fold = (text: string) => folded.get(text) ?? (folded.set(text, foldCase(text)), folded.get(text)!);
  const out: Expectation = { clientFrames: 0, viewFrames: { enter: 0, stay: 0, leave: 0 }, viewsPerEvent: 0 };
  for (const p of planned) {
    for (const v of views) {
      const op = viewChange(v.filter, 'update', p.after, p.before, fold);
      if (op === undefined) continue;
      out.clientFrames += v.holders;
      if (op === 'leave') out.viewFrames.leave++;
      else if (matches(v.filter, p.before, fold)) out.viewFrames.stay++;
      else out.viewFrames.enter++;
    }
  }
  const pairs = out.viewFrames.enter + out.viewFrames.stay + out.viewFrames.leave;
  out.viewsPerEvent = planned.length ? pairs / planned.length : 0;
  return out;
}
