/**
 * The board's filters, bound to the address: the form's fields are the filter grammar's
 * parameters (CONTRACT section 6), the page's query string is the canonical filter, so a
 * view can be shared by its address. Invalid input is named under the form and the view
 * stays as it was.
 */
import { canonicalQuery, FilterError, parseFilter } from '../domain/filter.js';

const FIELDS = ['status', 'location', 'domain', 'minAmount', 'closesAfter', 'closesBefore', 'q'] as const;

/** The canonical filter of the page's address (an invalid address gives the empty filter and the error). */
export function filterFromAddress(search: string): { query: string; error?: string } {
  try {
    return { query: canonicalQuery(parseFilter(new URLSearchParams(search))) };
  } catch (err) {
    return { query: '', error: describe(err) };
  }
}

/** Puts the query's values into the form. */
export function fillForm(form: HTMLFormElement, query: string): void {
  const params = new URLSearchParams(query);
  for (const name of FIELDS) {
    const field = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
    if (field) field.value = params.get(name) ?? '';
  }
}

/** The canonical query of the form's values, or the error naming the bad field. */
export function filterFromForm(form: HTMLFormElement): { query: string; error?: string } {
  const entries: [string, string][] = [];
  for (const name of FIELDS) {
    const field = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
    const value = field?.value.trim() ?? '';
    if (value !== '') entries.push([name, value]);
  }
  try {
    return { query: canonicalQuery(parseFilter(entries)) };
  } catch (err) {
    return { query: '', error: describe(err) };
  }
}

function describe(err: unknown): string {
  return err instanceof FilterError || err instanceof Error ? err.message : 'invalid filter';
}
