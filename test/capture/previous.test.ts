/**
 * The relay's `previous` (capture/previous.ts) from a log row: the trigger of migration 006
 * logs only the fields an update changed, 002's logged all nine; both give the same event.
 */
import { describe, expect, it } from 'vitest';
import { previousOf } from '../../src/capture/previous.js';
import type { Grant } from '../../src/domain/grant.js';

const after: Grant = {
  id: '11111111-1111-4111-8111-111111111111', source: 's', externalId: 'e', title: 'After', description: null, agency: 'A', url: null,
  minAmount: null, maxAmount: 25000, currency: 'AUD', openDate: null, closeDate: '2026-06-30', status: 'closed', categories: [],
  locations: ['VIC', 'NSW'], vicOutcomeDomain: null, version: 4, updatedAt: '2026-11-30T00:00:00.000Z',
};
/** The nine filter fields before the update, as 002's trigger logged them. */
const allNine = {
  source: 's', title: 'Before', description: 'Long text', agency: 'A', max_amount: 20000, close_date: '2026-06-30', status: 'open', locations: ['VIC'], vic_outcome_domain: null,
};

describe('capture previous', () => {
  it('capture previous - an update: the changed fields, whether the log row holds them alone or all nine', () => {
    const expected = { title: 'Before', description: 'Long text', maxAmount: 20000, status: 'open', locations: ['VIC'] };
    expect(previousOf('update', allNine, after)).toEqual(expected);
    expect(previousOf('update', { title: 'Before', description: 'Long text', max_amount: 20000, status: 'open', locations: ['VIC'] }, after)).toEqual(expected);
    // The same amount at another scale (numeric 25000.00) is no change.
    expect(previousOf('update', { max_amount: '25000.00' }, after)).toEqual({});
    expect(previousOf('update', {}, after)).toEqual({});
  });

  it('capture previous - a delete needs all nine; an insert has none; an unreadable row gives none', () => {
    expect(previousOf('delete', allNine, null)).toEqual({
      source: 's', title: 'Before', description: 'Long text', agency: 'A', maxAmount: 20000, closeDate: '2026-06-30', status: 'open', locations: ['VIC'], vicOutcomeDomain: null,
    });
    expect(previousOf('delete', { title: 'Before' }, null)).toBeUndefined();
    expect(previousOf('insert', allNine, after)).toBeUndefined();
    expect(previousOf('update', null, after)).toBeUndefined();
    expect(previousOf('update', { status: 'no such status' }, after)).toBeUndefined();
    expect(previousOf('update', { max_amount: 'lots' }, after)).toBeUndefined();
  });
});
