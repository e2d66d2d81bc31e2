/**
 * The SQL side of the filter grammar (domain/filter.ts): the WHERE conditions that select
 * exactly the grants `matches` accepts. Values are always bind parameters; `q` is a LIKE
 * pattern with `%`, `_` and `\` escaped, matched with ILIKE, which folds case one character
 * at a time as `foldCase` does (test/filter/property.test.ts checks the two agree).
 */
import type { GrantFilter } from '../domain/filter.js';

/** `%`, `_` and `\` stand for themselves in `q`. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Conditions on table alias `g` for `filter`, with their values appended to `params`
 * (placeholders numbered after what `params` already holds). `TRUE` for no filter.
 */
export function filterSql(filter: GrantFilter, params: unknown[]): string {
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (filter.status) where.push(`g.status = ANY (${bind(filter.status)}::text[])`);
  if (filter.location) where.push(`g.locations && ${bind(filter.location)}::text[]`);
  if (filter.domain) where.push(`g.vic_outcome_domain = ANY (${bind(filter.domain)}::text[])`);
  if (filter.source) where.push(`g.source = ANY (${bind(filter.source)}::text[])`);
  if (filter.minAmount !== undefined) where.push(`g.max_amount >= ${bind(filter.minAmount)}::numeric`);
  if (filter.closesAfter !== undefined) where.push(`g.close_date >= ${bind(filter.closesAfter)}::date`);
  if (filter.closesBefore !== undefined) where.push(`g.close_date <= ${bind(filter.closesBefore)}::date`);
  if (filter.q !== undefined) {
    const p = bind(likePattern(filter.q));
    where.push(`(g.title ILIKE ${p} OR g.agency ILIKE ${p} OR g.description ILIKE ${p})`);
  }
  return where.length ? where.join(' AND ') : 'TRUE';
}
