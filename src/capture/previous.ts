/**
 * The `previous` of a change event (domain/events.ts): the grant's filter fields before the
 * change, read from the change log's `previous` column (table column names, as the trigger's
 * json_build_object wrote them). On an update only the fields that changed are kept, so an
 * event grows only by what a filtered view needs to tell that the grant left it.
 */
import { FILTER_FIELDS, type FilterFields } from '../domain/filter.js';
import type { PreviousFields } from '../domain/events.js';
import { GrantRow, type Grant } from '../domain/grant.js';

const PreviousRow = GrantRow.pick({
  source: true,
  title: true,
  description: true,
  agency: true,
  max_amount: true,
  close_date: true,
  status: true,
  locations: true,
  vic_outcome_domain: true,
}).transform(
  (row): FilterFields => ({
    source: row.source,
    title: row.title,
    description: row.description,
    agency: row.agency,
    maxAmount: row.max_amount,
    closeDate: row.close_date,
    status: row.status,
    locations: row.locations ?? [],
    vicOutcomeDomain: row.vic_outcome_domain,
  }),
);

/**
 * The event's `previous`, or undefined when the log row has none (an insert, or a change
 * logged before this column existed) or it cannot be read (then a view cannot tell whether
 * the grant was in it; docs/protocol.md says what it does).
 */
export function previousOf(op: 'insert' | 'update' | 'delete', row: Record<string, unknown> | null, after: Grant | null): PreviousFields | undefined {
  if (op === 'insert' || row === null) return undefined;
  const parsed = PreviousRow.safeParse(row);
  if (!parsed.success) return undefined;
  if (op === 'delete' || after === null) return parsed.data;
  const changed: Record<string, unknown> = {};
  for (const field of FILTER_FIELDS) {
    if (JSON.stringify(parsed.data[field]) !== JSON.stringify(after[field])) changed[field] = parsed.data[field];
  }
  return changed as PreviousFields;
}
