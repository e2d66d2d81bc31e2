/**
 * The board's table: one page of the view's grants (sorted by closing date), rendered at
 * most once per animation frame however many changes arrive, rows kept by grant id so a
 * row that changed is updated in place and highlighted (class `changed`, for
 * HIGHLIGHT_MS), and a row that left the view disappears. Paged rather than virtualised:
 * 50 rows a page keep every frame small at 5,000 grants and every row reachable by
 * keyboard and screen reader (docs/web.md).
 */
import type { Grant } from '../client/index.js';
import { formatAmount, formatCount, formatDate } from './format.js';

export const PAGE_SIZE = 50;
const HIGHLIGHT_MS = 3_000;

/** Closing date ascending, grants without one last, then title, then id. */
export function byClosingDate(a: Grant, b: Grant): number {
  if (a.closeDate !== b.closeDate) {
    if (a.closeDate === null) return 1;
    if (b.closeDate === null) return -1;
    return a.closeDate < b.closeDate ? -1 : 1;
  }
  if (a.title !== b.title) return a.title < b.title ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

interface Row {
  el: HTMLTableRowElement;
  version: number;
}

export interface TableParts {
  body: HTMLTableSectionElement;
  count: HTMLElement;
  page: HTMLElement;
  prev: HTMLButtonElement;
  next: HTMLButtonElement;
}

export class GrantTable {
  private readonly rows = new Map<string, Row>();
  /** Grant id -> when its highlight ends. */
  private readonly highlighted = new Map<string, number>();
  private items: () => readonly Grant[] = () => [];
  private pageIndex = 0;
  private scheduled = false;

  constructor(private readonly parts: TableParts) {
    parts.prev.addEventListener('click', () => this.turn(-1));
    parts.next.addEventListener('click', () => this.turn(1));
  }

  /** Shows a new source of items (a new view): back to the first page, nothing highlighted. */
  show(items: () => readonly Grant[]): void {
    this.items = items;
    this.pageIndex = 0;
    this.highlighted.clear();
    for (const row of this.rows.values()) row.el.remove();
    this.rows.clear();
    this.schedule();
  }

  /** A grant changed (insert or update): highlight its row. */
  changed(id: string): void {
    this.highlighted.set(id, performance.now() + HIGHLIGHT_MS);
    this.schedule();
  }

  /** Something changed: render at the next frame. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  private turn(delta: number): void {
    this.pageIndex += delta;
    this.schedule();
  }

  private render(): void {
    const items = this.items();
    const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
    this.pageIndex = Math.min(Math.max(0, this.pageIndex), pages - 1);
    const start = this.pageIndex * PAGE_SIZE;
    const shown = items.slice(start, start + PAGE_SIZE);
    const now = performance.now();
    const keep = new Set<string>();
    let before: ChildNode | null = this.parts.body.firstChild;
    for (const grant of shown) {
      keep.add(grant.id);
      let row = this.rows.get(grant.id);
      if (!row) {
        row = { el: document.createElement('tr'), version: -1 };
        row.el.dataset.id = grant.id;
        this.rows.set(grant.id, row);
      }
      if (row.version !== grant.version) {
        fill(row.el, grant);
        row.version = grant.version;
      }
      const until = this.highlighted.get(grant.id);
      const lit = until !== undefined && until > now;
      if (!lit && until !== undefined) this.highlighted.delete(grant.id);
      row.el.classList.toggle('changed', lit);
      if (row.el !== before) this.parts.body.insertBefore(row.el, before);
      before = row.el.nextSibling;
    }
    for (const [id, row] of this.rows) {
      if (keep.has(id)) continue;
      row.el.remove();
      this.rows.delete(id);
    }
    this.parts.count.textContent = `(${formatCount(items.length)})`;
    this.parts.page.textContent = items.length === 0 ? 'No grants match' : `${formatCount(start + 1)}–${formatCount(start + shown.length)} of ${formatCount(items.length)}`;
    this.parts.prev.disabled = this.pageIndex === 0;
    this.parts.next.disabled = this.pageIndex >= pages - 1;
    // Highlights fade by themselves (CSS); the class comes off at the next render after they end.
    const next = Math.min(...[...this.highlighted.values()].filter((t) => t > now));
    if (Number.isFinite(next)) setTimeout(() => this.schedule(), next - now + 16);
  }
}

function fill(tr: HTMLTableRowElement, g: Grant): void {
  const cells: [string, string | Node][] = [
    ['title', titleCell(g)],
    ['status', g.status ?? '–'],
    ['closes', formatDate(g.closeDate)],
    ['num', formatAmount(g.maxAmount)],
    ['where', [...(g.locations ?? []), g.vicOutcomeDomain].filter(Boolean).join(', ') || '–'],
  ];
  tr.replaceChildren(
    ...cells.map(([cls, content], i) => {
      const td = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) td.setAttribute('scope', 'row');
      td.className = cls;
      td.append(content);
      return td;
    }),
  );
  tr.dataset.version = String(g.version);
  tr.dataset.status = g.status ?? '';
}

function titleCell(g: Grant): Node {
  const frag = document.createDocumentFragment();
  const name = g.url && /^https?:\/\//.test(g.url) ? Object.assign(document.createElement('a'), { href: g.url, rel: 'noopener', textContent: g.title }) : document.createTextNode(g.title);
  frag.append(name);
  if (g.agency) {
    const agency = document.createElement('span');
    agency.className = 'agency';
    agency.textContent = g.agency;
    frag.append(agency);
  }
  return frag;
}
