/**
 * The board's grants kept in closing-date order as changes arrive: one binary search and one
 * splice per change, instead of sorting 5,000 grants again (which, at 20 changes a second,
 * made long tasks on a loaded machine; docs/web.md, "Performance").
 */
import type { Grant, ViewChange } from '../client/index.js';

export class SortedGrants {
  private list: Grant[] = [];
  private readonly byId = new Map<string, Grant>();

  constructor(private readonly compare: (a: Grant, b: Grant) => number) {}

  get items(): readonly Grant[] {
    return this.list;
  }

  /** Starts again from a snapshot (any order). */
  reset(items: readonly Grant[]): void {
    this.list = [...items].sort(this.compare);
    this.byId.clear();
    for (const g of this.list) this.byId.set(g.id, g);
  }

  /** Applies what the view did with one change. */
  apply(change: ViewChange): void {
    if (!change.id) return;
    const old = this.byId.get(change.id);
    if (old) {
      const at = this.indexOf(old);
      if (at >= 0) this.list.splice(at, 1);
      this.byId.delete(change.id);
    }
    if (change.grant) {
      this.list.splice(this.insertionPoint(change.grant), 0, change.grant);
      this.byId.set(change.id, change.grant);
    }
  }

  private insertionPoint(g: Grant): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.list[mid]!, g) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(g: Grant): number {
    const at = this.insertionPoint(g);
    return this.list[at] === g ? at : this.list.indexOf(g);
  }
}
