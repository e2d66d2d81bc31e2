/**
 * Seeded random grants and filters, for the filter tests (test/filter, test/views) and the
 * views bench: edge cases on purpose (null amounts and dates, empty arrays, case and
 * accents, LIKE's wildcards in text, dates on the bounds of the filters).
 */
import { parseFilter, type GrantFilter } from '../../src/domain/filter.js';
import { GRANT_STATUSES, LOCATIONS, VIC_OUTCOME_DOMAINS, type Grant } from '../../src/domain/grant.js';

/** mulberry32: a small seeded generator, so a failure can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const WORDS = ['Health', 'health', 'CAFÉ', 'café', 'cafe', 'Über', 'über', 'Niño', 'niño', 'İstanbul', 'straße', 'ΣΟΦΙΑ', 'σοφία', 'Arts', 'ARTS', 'sport', '100%', 'fund_2026', 'a\\b', 'Regional', 'Victoria', 'grant', 'Community', 'water', 'Élan'];
export const SOURCES = ['grantconnect', 'vic-gov-au', 'council_x', 'manual'];
export const DATES = ['2026-01-01', '2026-03-31', '2026-06-30', '2026-06-15', '2026-12-31', '2027-02-28'];
export const AMOUNTS = [0, 500, 999.99, 1000, 5000, 5000.5, 20_000, 1_500_000];

/** The columns `grantValues` fills, in order. */
export const GRANT_COLUMNS = ['source', 'external_id', 'title', 'description', 'agency', 'min_amount', 'max_amount', 'close_date', 'status', 'locations', 'vic_outcome_domain'] as const;

export class RandomGrants {
  readonly random: () => number;

  constructor(readonly seed: number) {
    this.random = rng(seed);
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  some<T>(items: readonly T[], max: number): T[] {
    return [...new Set(Array.from({ length: 1 + Math.floor(this.random() * max) }, () => this.pick(items)))];
  }

  sentence(): string {
    return Array.from({ length: 1 + Math.floor(this.random() * 5) }, () => this.pick(WORDS)).join(this.chance(0.8) ? ' ' : '');
  }

  /** Values for GRANT_COLUMNS. */
  grantValues(externalId: string): unknown[] {
    const max = this.chance(0.2) ? null : this.pick(AMOUNTS);
    const min = max === null || this.chance(0.5) ? null : Math.min(max, this.pick(AMOUNTS));
    return [
      this.pick(SOURCES),
      externalId,
      this.sentence(),
      this.chance(0.3) ? null : this.sentence(),
      this.chance(0.3) ? null : this.sentence(),
      min,
      max,
      this.chance(0.25) ? null : this.pick(DATES),
      this.pick(GRANT_STATUSES),
      this.chance(0.2) ? [] : this.some(LOCATIONS, 3),
      this.chance(0.4) ? null : this.pick(VIC_OUTCOME_DOMAINS),
    ];
  }

  /** An UPDATE's SET clause and values that move a grant in or out of filters. */
  change(): { set: string; values: unknown[] } {
    const column = this.pick(['status', 'locations', 'max_amount', 'close_date', 'title', 'vic_outcome_domain', 'source', 'agency'] as const);
    const value =
      column === 'status' ? this.pick(GRANT_STATUSES)
      : column === 'locations' ? (this.chance(0.2) ? [] : this.some(LOCATIONS, 3))
      : column === 'max_amount' ? (this.chance(0.2) ? null : this.pick(AMOUNTS))
      : column === 'close_date' ? (this.chance(0.2) ? null : this.pick(DATES))
      : column === 'vic_outcome_domain' ? (this.chance(0.4) ? null : this.pick(VIC_OUTCOME_DOMAINS))
      : column === 'source' ? this.pick(SOURCES)
      : column === 'agency' ? (this.chance(0.3) ? null : this.sentence())
      : this.sentence();
    // max_amount must stay at least min_amount: lowering it drops min_amount with it.
    if (column === 'max_amount') return { set: 'max_amount = $2, min_amount = CASE WHEN $2::numeric IS NULL OR min_amount > $2::numeric THEN NULL ELSE min_amount END', values: [value] };
    return { set: `${column} = $2`, values: [value] };
  }

  /** Changes the case of some characters of `text`, one at a time (as a person types). */
  recase(text: string): string {
    return [...text].map((c) => (this.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');
  }

  /** A random filter; `q` is mostly a piece of some grant's text, so that filters match. */
  filter(grants: readonly Pick<Grant, 'title' | 'agency' | 'description'>[]): GrantFilter {
    const params: [string, string][] = [];
    if (this.chance(0.35)) params.push(['status', this.some(GRANT_STATUSES, 2).join(',')]);
    if (this.chance(0.35)) params.push(['location', this.some(LOCATIONS, 3).map((l) => (this.chance(0.3) ? l.toLowerCase() : l)).join(',')]);
    if (this.chance(0.25)) params.push(['domain', this.some(VIC_OUTCOME_DOMAINS, 2).join(',')]);
    if (this.chance(0.2)) params.push(['source', this.some(SOURCES, 2).join(',')]);
    if (this.chance(0.3)) params.push(['minAmount', String(this.pick(AMOUNTS))]);
    if (this.chance(0.3)) params.push(['closesAfter', this.pick(DATES)]);
    if (this.chance(0.3)) params.push(['closesBefore', this.pick(DATES)]);
    if (this.chance(0.5) && grants.length > 0) {
      const g = this.pick(grants);
      const text = this.pick([g.title, g.agency ?? g.title, g.description ?? g.title]);
      const chars = [...text];
      const start = Math.floor(this.random() * Math.max(1, chars.length - 2));
      const piece = this.chance(0.85) ? chars.slice(start, start + 2 + Math.floor(this.random() * 6)).join('') : this.pick(['%', '_', '\\\\', 'é', 'É', 'ss', 'Σ']).repeat(2);
      if ([...piece.trim()].length >= 2) params.push(['q', this.recase(piece)]);
    }
    return parseFilter(params);
  }
}
