/**
 * The `previous` of a change event (domain/events.ts): the grant's filter fields before the
 * change, read from the change log's `previous` column (table column names). On an update
 * only the fields that changed are kept, so an event grows only by what a filtered view
 * needs to tell that the grant left it.
 *
 * The capture trigger logs all nine fields for a delete; for an update, since migration
 * 006, only those the update changed (002's trigger logged all nine: such rows may still be
 * in the log after an upgrade, and read the same way, since each field is compared with the
 * row after the change here either way).
 */
import type { FilterFields } from '../domain/filter.js';
import type { PreviousFields } from '../domain/events.js';
import { GrantRow, type Grant } from '../domain/grant.js';

/** Each filter field's column in `grants`. */
const COLUMN_OF = {
  source: 'source',
  title: 'title',
  description: 'description',
  agency: 'agency',
  maxAmount: 'max_amount',
  closeDate: 'close_date',
  status: 'status',
  locations: 'locations',
  vicOutcomeDomain: 'vic_outcome_domain',
} as const satisfies Record<keyof FilterFields, keyof GrantRow>;

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
});
const PreviousUpdateRow = PreviousRow.partial();

/** The row's filter fields, named as in FilterFields; absent columns stay absent. */
function fieldsOf(row: Partial<Record<(typeof COLUMN_OF)[keyof FilterFields], unknown>>): PreviousFields {
  const fields: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(COLUMN_OF)) {
    if (!(column in row)) continue;
    const value = row[column];
    fields[field] = field === 'locations' ? (value ?? []) : value;
  }
  return fields as PreviousFields;
}

/**
 * The event's `previous`, or undefined when the log row has none (an insert, or a change
 * logged before this column existed) or it cannot be read (then a view cannot tell whether
 * the grant was in it; docs/protocol.md says what it does).
 */
export function previousOf(op: 'insert' | 'update' | 'delete', row: Record<string, unknown> | null, after: Grant | null): PreviousFields | undefined {
  if (op === 'insert' || row === null) return undefined;
  if (op === 'delete' || after === null) {
    const parsed = PreviousRow.safeParse(row);
    return parsed.success ? fieldsOf(parsed.data) : undefined;
  }
  const parsed = PreviousUpdateRow.safeParse(row);
  if (!parsed.success) return undefined;
  const before = fieldsOf(parsed.data);
  const changed: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(before)) {
    if (JSON.stringify(value) !== JSON.stringify(after[field as keyof FilterFields])) changed[field] = value;
  }
  return changed as PreviousFields;
}
