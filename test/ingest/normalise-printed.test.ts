/**
 * Normalisation of the ways real grant pages print amounts, dates, statuses and places
 * (issue 16), rule by rule; the corpus of printed values is scored in corpus.test.ts and
 * the hostile records are in normalise.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { GrantInput } from '../../src/domain/scraped.js';
import { parseDateText } from '../../src/normalise/dates.js';
import { parseAmountText } from '../../src/normalise/money.js';
import { normaliseRecord } from '../../src/normalise/record.js';
import { readStatus } from '../../src/normalise/status.js';

const TODAY = '2026-01-15';
const base = { externalId: 'g-1', title: 'Community Grants' };
const normalise = (input: unknown) => normaliseRecord(input, 'vic-grants', { today: TODAY });

function accepted(input: unknown): GrantInput {
  const result = normalise(input);
  if (!result.ok) throw new Error(`rejected: ${JSON.stringify(result.errors)}`);
  return result.record;
}

function rejectedPaths(input: unknown): string[] {
  const result = normalise(input);
  return result.ok ? [] : result.errors.map((e) => e.path);
}

describe('normalise printed - amounts', () => {
  it.each([
    // Qualified.
    ['maxAmount', 'maximum value of $5,000 per annum', null, 5000],
    ['maxAmount', 'up to $5000 per application', null, 5000],
    ['maxAmount', 'up to A$250,000 (excluding GST)', null, 250_000],
    ['maxAmount', 'Up to $100,000 for organisers of cancelled or postponed major public events', null, 100_000],
    ['maxAmount', 'up to a maximum of $15,000,000 over 3 years', null, 15_000_000],
    ['maxAmount', 'Grants of up to $650,000 (where the total project cost is more than $500,000, excluding GST)', null, 650_000],
    ['minAmount', 'The minimum grant amount is $50,000', 50_000, null],
    ['minAmount', 'exceeding $50 000', 50_000, null],
    ['amount', '($2000 each, regardless of the project costs)', 2000, 2000],
    ['amount', '$20,000 (maximum)', null, 20_000],
    // Millions and thousands.
    ['amount', '$1.5m', 1_500_000, 1_500_000],
    ['amount', '$20k', 20_000, 20_000],
    ['maxAmount', 'Up to $1.4M', null, 1_400_000],
    ['amount', '$4.39 million', 4_390_000, 4_390_000],
    // Ranges, both orders, and alternatives.
    ['amount', 'between $10 000 and $50 000', 10_000, 50_000],
    ['amount', '$50,000 to $1 million', 50_000, 1_000_000],
    ['amount', 'a minimum of $2 million up to a maximum of $30 million', 2_000_000, 30_000_000],
    ['amount', 'Maximum $50,000, minimum $5,000', 5000, 50_000],
    ['amount', 'between $500,000 and up to $15 million', 500_000, 15_000_000],
    ['amount', 'Funding is between $500,000 and $15 million to cover 50% or more eligible expenditure.', 500_000, 15_000_000],
    ['amount', '$3,000 for employing businesses or $1,000 for non-employing businesses.', 1000, 3000],
    // Not known yet: null, grant kept.
    ['maxAmount', 'Not Specified yet', null, null],
    ['maxAmount', 'There is no set funding amount for this program.', null, null],
    ['maxAmount', 'Applicants may apply for any amount however the total is limited by budget.', null, null],
    ['amount', 'TBC', null, null],
  ])('normalise printed - %s %j gives min %j, max %j', (field, printed, min, max) => {
    const r = accepted({ ...base, [field]: printed });
    expect([r.minAmount, r.maxAmount]).toEqual([min, max]);
  });

  it.each([
    ['lots of money', 'not an amount'],
    ['Round 3', 'not an amount'],
    ['5.000,50', 'not a number'],
    ['up to $5,000 - $10,000', 'before a range'],
    ['$1,000 and $2,000 and $3,000', '3 amounts'],
    ['A$5,000 or US$4,000', 'mixes currencies'],
  ])('normalise printed - amount %j rejects (%s)', (printed, why) => {
    const p = parseAmountText(printed);
    expect(p.kind).toBe('error');
    expect(p.kind === 'error' && p.message).toContain(why);
    expect(rejectedPaths({ ...base, maxAmount: printed })).toEqual(['maxAmount']);
  });
});

describe('normalise printed - dates', () => {
  it.each([
    ['20 February 2025, 5:00 pm', '2025-02-20'],
    ['5pm Friday, 28 November 2025, Australian Central Daylight Time (ACDT)', '2025-11-28'],
    ['2.00 PM Monday 15 February 2021', '2021-02-15'],
    ['(12 noon, 5 June 2023)', '2023-06-05'],
    ['Close Thursday 12 March 2026, 5PM AEDT', '2026-03-12'],
    ['Open throughout the year until 24 October 2023 05:00 PM AEDT', '2023-10-24'],
    ['15 February 2021 (5pm) or until funds are expended', '2021-02-15'],
    ['23-May-23', '2023-05-23'],
    ['06 Feb, 2023', '2023-02-06'],
    ['May 9 2022', '2022-05-09'],
    ['1st of July 2026', '2026-07-01'],
    ['Thu 10 Oct 2024 5:00pm AEDT', '2024-10-10'],
    // Not known yet, or not to the day: null, grant kept.
    ['TBA 2023', null],
    ['2:00pm AEDT (Canberra time) on TBC', null],
    ['August 2018 (date to be announced)', null],
    ['mid-April each year', null],
    ['30 June each year', null],
    ['15 January', null],
    ['12pm on the last Friday monthly', null],
    ['when funds expended', null],
    ['No closing date specified', null],
    ['FY 2024-25', null],
  ])('normalise printed - date %j is %j', (printed, date) => {
    expect(parseDateText(printed)).toEqual({ ok: true, date });
    expect(accepted({ ...base, closeDate: printed }).closeDate).toBe(date);
  });

  it.each([
    ['31/02/2026', 'not a calendar date'],
    ['31 February', 'not a calendar date'],
    ['soon', 'not a date'],
    ['1 March 2026 – 30 April 2026', '2 dates'],
    ['Page last updated: 24/03/23', 'date the page was updated'],
    ['x'.repeat(161), 'longer than'],
  ])('normalise printed - date %j rejects (%s)', (printed, why) => {
    const p = parseDateText(printed);
    expect(p.ok).toBe(false);
    expect(!p.ok && p.message).toContain(why);
    expect(rejectedPaths({ ...base, openDate: printed })).toEqual(['openDate']);
  });
});

describe('normalise printed - statuses', () => {
  it.each([
    ['Open - closing soon', 'open'],
    ['Applications open', 'open'],
    ['Currently open and closing soon!', 'open'],
    ['Expressions of Interest (EOIs) are now open', 'open'],
    ['Now closed', 'closed'],
    ['Applications for 2018 are now closed', 'closed'],
    ['Currently CLOSED - expected to open in April 2020', 'closed'],
    ['Current Status: CLOSED', 'closed'],
    ['Opening soon', 'upcoming'],
    ['Not yet open', 'upcoming'],
  ])('normalise printed - status %j is %j', (printed, status) => {
    expect(readStatus(printed)).toBe(status);
    expect(accepted({ ...base, status: printed }).status).toBe(status);
  });

  it('normalise printed - a status printed as not known yet comes from the dates', () => {
    expect(readStatus('TBA')).toBe('not known');
    expect(accepted({ ...base, status: 'TBA', closeDate: '01/01/2026' }).status).toBe('closed');
    expect(accepted({ ...base, status: 'To be confirmed', openDate: '01/02/2026' }).status).toBe('upcoming');
    expect(rejectedPaths({ ...base, status: 'Maybe' })).toEqual(['status']);
  });
});

describe('normalise printed - locations', () => {
  it.each([
    ['Regional Victoria', ['VIC']],
    ['Metropolitan Melbourne', ['VIC']],
    ['Greater Sydney', ['NSW']],
    ['Greater Sydney and the Central Coast', ['NSW']],
    ['metropolitan Melbourne or statewide', ['VIC']],
    ['regional and remote areas of the Northern Territory', ['NT']],
    ['Northern Territory (NT)', ['NT']],
    ['South East Queensland', ['QLD']],
    ['regional Western Australia', ['WA']],
    ['rural, regional and remote Australia', ['national']],
    ['City of Sydney local government area', ['NSW']],
    ['Victoria excluding Melbourne', ['VIC']],
    ['Northern Australia', ['NT', 'QLD', 'WA']],
    ['regional areas', []],
    ['TBA', []],
  ])('normalise printed - locations %j are %j', (printed, codes) => {
    expect(accepted({ ...base, locations: printed }).locations).toEqual(codes);
  });

  it('normalise printed - a place outside Australia, or none, still rejects with its path', () => {
    expect(rejectedPaths({ ...base, locations: 'Atlantis' })).toEqual(['locations']);
    expect(rejectedPaths({ ...base, locations: ['Regional Victoria', 'New Zealand'] })).toEqual(['locations.1']);
  });
});
