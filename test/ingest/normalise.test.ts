/**
 * Normalisation of raw scrape records (src/normalise/): the printed forms real sites
 * use, and the table of hostile records of acceptance point 7, each with the outcome
 * documented in docs/ingest.md.
 */
import { describe, expect, it } from 'vitest';
import type { GrantInput } from '../../src/domain/scraped.js';
import { parseDateText } from '../../src/normalise/dates.js';
import { parseAmountText } from '../../src/normalise/money.js';
import { normaliseRecord } from '../../src/normalise/record.js';

const TODAY = '2026-01-15';
const SOURCE = 'vic-grants';
const base = { externalId: 'g-1', title: 'Community Grants' };
const normalise = (input: unknown) => normaliseRecord(input, SOURCE, { today: TODAY });

function accepted(input: unknown): GrantInput {
  const result = normalise(input);
  if (!result.ok) throw new Error(`rejected: ${JSON.stringify(result.errors)}`);
  return result.record;
}

describe('normalise - printed forms', () => {
  it.each([
    ['$5,000', 5000, 5000],
    ['5,000.50', 5000.5, 5000.5],
    ['AUD 5000', 5000, 5000],
    ['A$12,500', 12500, 12500],
    ['Up to $20 million', null, 20_000_000],
    ['$5,000 - $50,000', 5000, 50000],
    ['$5,000 – $50,000', 5000, 50000],
    ['$5,000 to $50,000', 5000, 50000],
    ['Between $1,000 and $10,000', 1000, 10000],
    ['From $5,000 to $50,000', 5000, 50000],
    ['$1 - 2 million', 1_000_000, 2_000_000],
    ['$500k - $1.5m', 500_000, 1_500_000],
    ['From $10,000', 10000, null],
    ['$10k+', 10000, null],
    ['Maximum of $250,000 (GST exclusive)', null, 250000],
    ['$7,500 per year', 7500, 7500],
    ['N/A', null, null],
    ['Varies', null, null],
    [15000, 15000, 15000],
  ])('normalise - amount %j gives min %j, max %j', (amount, min, max) => {
    const r = accepted({ ...base, amount });
    expect([r.minAmount, r.maxAmount]).toEqual([min, max]);
  });

  it('normalise - minAmount and maxAmount fields take printed text; explicit fields win over amount', () => {
    expect(accepted({ ...base, minAmount: '$1,000', maxAmount: 'Up to $5,000' })).toMatchObject({ minAmount: 1000, maxAmount: 5000 });
    expect(accepted({ ...base, minAmount: '$1,000 - $9,000' })).toMatchObject({ minAmount: 1000, maxAmount: 9000 });
    expect(accepted({ ...base, amount: '$1 - $2 million', maxAmount: '$3,000,000' })).toMatchObject({ minAmount: 1_000_000, maxAmount: 3_000_000 });
    expect(accepted({ ...base, minAmount: 10.005 })).toMatchObject({ minAmount: 10.01 });
  });

  it.each([
    ['31/03/2026', '2026-03-31'],
    ['31-3-2026', '2026-03-31'],
    ['31.03.26', '2026-03-31'],
    ['31 March 2026', '2026-03-31'],
    ['31 Mar 2026', '2026-03-31'],
    ['Tuesday, 31st March 2026', '2026-03-31'],
    ['5:00pm AEDT on 31 March 2026', '2026-03-31'],
    ['March 31, 2026', '2026-03-31'],
    ['2026-03-31', '2026-03-31'],
    ['2026-03-31T17:00:00+11:00', '2026-03-31'],
    ['29/02/2028', '2028-02-29'],
    ['Ongoing', null],
    ['', null],
  ])('normalise - date %j is %j', (text, date) => {
    expect(parseDateText(text)).toEqual({ ok: true, date });
    expect(accepted({ ...base, closeDate: text }).closeDate).toBe(date);
  });

  it.each([
    ['Victoria', ['VIC']],
    ['Vic', ['VIC']],
    ['New South Wales', ['NSW']],
    ['Victoria, New South Wales', ['NSW', 'VIC']],
    ['NSW and ACT', ['ACT', 'NSW']],
    ['Australia-wide', ['national']],
    ['National', ['national']],
    ['All states and territories', ['national']],
    [['Queensland', 'qld', 'Western Australia'], ['QLD', 'WA']],
  ])('normalise - locations %j are %j', (locations, codes) => {
    expect(accepted({ ...base, locations }).locations).toEqual(codes);
  });

  it.each([
    ['Open', 'open'],
    ['Closed', 'closed'],
    ['Opening soon', 'upcoming'],
    ['Upcoming', 'upcoming'],
    ['  CLOSING SOON ', 'open'],
    ['Forecast opportunity', 'upcoming'],
    ['draft', 'draft'],
  ])('normalise - status %j is %j', (status, value) => {
    expect(accepted({ ...base, status }).status).toBe(value);
  });

  it('normalise - a record without a status gets one from its dates', () => {
    expect(accepted({ ...base, closeDate: '01/01/2026' }).status).toBe('closed');
    expect(accepted({ ...base, openDate: '01/02/2026' }).status).toBe('upcoming');
    expect(accepted({ ...base, openDate: '01/01/2026', closeDate: '01/02/2026' }).status).toBe('open');
    expect(accepted(base).status).toBe('open');
  });

  it('normalise - a full record from a site, with defaults filled', () => {
    expect(
      accepted({
        externalId: 12345,
        title: '  Regional   Jobs &amp; Investment\n Package ',
        description: '<p>Supports <b>regional</b> jobs.</p><p>Apply online.</p>',
        agency: 'Department of Jobs',
        url: 'https://www.vic.gov.au/grants/rjip',
        amount: '$5,000 - $50,000',
        openDate: '1 January 2026',
        closeDate: '31/03/2026',
        status: 'Open',
        categories: 'Business, Regional, Business',
        locations: 'Victoria',
        vicOutcomeDomain: 'Community',
        scrapedAt: '2026-01-15T01:00:00Z',
      }),
    ).toEqual({
      source: SOURCE,
      externalId: '12345',
      title: 'Regional Jobs & Investment Package',
      description: 'Supports regional jobs.\nApply online.',
      agency: 'Department of Jobs',
      url: 'https://www.vic.gov.au/grants/rjip',
      minAmount: 5000,
      maxAmount: 50000,
      currency: 'AUD',
      openDate: '2026-01-01',
      closeDate: '2026-03-31',
      status: 'open',
      categories: ['Business', 'Regional'],
      locations: ['VIC'],
      vicOutcomeDomain: 'community',
    } satisfies GrantInput);
  });

  it('normalise - the subject source is the default and the only source allowed', () => {
    expect(accepted({ ...base, source: SOURCE }).source).toBe(SOURCE);
    expect(accepted({ ...base, source: '' }).source).toBe(SOURCE);
  });

  it('normalise - amount text parser reports what it found', () => {
    expect(parseAmountText('USD 5,000')).toEqual({ kind: 'exact', min: 5000, max: 5000, currency: 'USD' });
  });
});

/**
 * Acceptance 7. Each row: a hostile record and its documented outcome — rejected with an
 * error on the given path, or accepted with the given fields.
 */
type Outcome = { reject: string[] } | { accept: Partial<GrantInput> };
const big = 'x'.repeat(1_048_576);
const HOSTILE: [string, unknown, Outcome][] = [
  ['a number instead of an object', 42, { reject: [''] }],
  ['null', null, { reject: [''] }],
  ['an array', [base], { reject: [''] }],
  ['a string', 'not a record', { reject: [''] }],
  ['missing title', { externalId: 'x' }, { reject: ['title'] }],
  ['empty title', { ...base, title: '   ' }, { reject: ['title'] }],
  ['title a number', { ...base, title: 12 }, { reject: ['title'] }],
  ['markup in title', { ...base, title: '<script>alert(1)</script>Grant' }, { reject: ['title'] }],
  ['escaped markup in title', { ...base, title: '&lt;b&gt;Grant&lt;/b&gt;' }, { reject: ['title'] }],
  ['title of 501 characters', { ...base, title: 't'.repeat(501) }, { reject: ['title'] }],
  ['missing externalId', { title: 'x' }, { reject: ['externalId'] }],
  ['empty externalId', { ...base, externalId: ' ' }, { reject: ['externalId'] }],
  ['externalId an object', { ...base, externalId: { id: 1 } }, { reject: ['externalId'] }],
  ['a 1 MB description', { ...base, description: big }, { reject: ['description'] }],
  ['description of 20,001 characters', { ...base, description: 'd'.repeat(20_001) }, { reject: ['description'] }],
  ['amount as words', { ...base, minAmount: 'five thousand dollars' }, { reject: ['minAmount'] }],
  ['amount with no figure that is not "not known"', { ...base, maxAmount: 'lots of money' }, { reject: ['maxAmount'] }],
  ['amount a boolean', { ...base, maxAmount: true }, { reject: ['maxAmount'] }],
  ['negative amount', { ...base, minAmount: -5000 }, { reject: ['minAmount'] }],
  ['negative printed amount', { ...base, maxAmount: '-$5,000' }, { reject: ['maxAmount'] }],
  ['absurd amount', { ...base, maxAmount: 1e15 }, { reject: ['maxAmount'] }],
  ['absurd printed amount', { ...base, amount: 'Up to $5,000 billion' }, { reject: ['maxAmount'] }],
  ['European decimal comma', { ...base, minAmount: '5.000,50' }, { reject: ['minAmount'] }],
  ['min above max', { ...base, minAmount: '$50,000', maxAmount: '$5,000' }, { reject: ['minAmount'] }],
  ['a range upside down', { ...base, amount: '$50,000 - $5,000' }, { reject: ['minAmount'] }],
  ['"up to" in minAmount', { ...base, minAmount: 'Up to $5,000' }, { reject: ['minAmount'] }],
  ['amount in another currency than the currency field', { ...base, amount: 'USD 5000', currency: 'AUD' }, { reject: ['currency'] }],
  ['currency not a code', { ...base, currency: 'dollars' }, { reject: ['currency'] }],
  ['impossible date', { ...base, closeDate: '31/02/2026' }, { reject: ['closeDate'] }],
  ['month 13', { ...base, openDate: '2026-13-01' }, { reject: ['openDate'] }],
  ['date as words', { ...base, closeDate: 'soon' }, { reject: ['closeDate'] }],
  ['year 1899', { ...base, closeDate: '01/01/1899' }, { reject: ['closeDate'] }],
  ['date a number (epoch)', { ...base, closeDate: 1767225600 }, { reject: ['closeDate'] }],
  ['closes before it opens', { ...base, openDate: '01/03/2026', closeDate: '01/02/2026' }, { reject: ['closeDate'] }],
  ['unknown status', { ...base, status: 'Maybe' }, { reject: ['status'] }],
  ['unknown state', { ...base, locations: 'Victoria, Narnia' }, { reject: ['locations'] }],
  ['a place that is not in Australia', { ...base, locations: 'Regional Atlantis' }, { reject: ['locations'] }],
  ['the date the page was updated', { ...base, closeDate: 'Page last updated: 24/03/23' }, { reject: ['closeDate'] }],
  ['two different dates in one field', { ...base, closeDate: '1 March 2026 - 30 April 2026' }, { reject: ['closeDate'] }],
  ['US state', { ...base, locations: ['CA'] }, { reject: ['locations.0'] }],
  ['locations an object', { ...base, locations: { VIC: true } }, { reject: ['locations'] }],
  ['Victorian outcome domain outside the list', { ...base, vicOutcomeDomain: 'Healthcare' }, { reject: ['vicOutcomeDomain'] }],
  ['Victorian outcome domain a near miss', { ...base, vicOutcomeDomain: 'educ' }, { reject: ['vicOutcomeDomain'] }],
  ['source of another scraper', { ...base, source: 'grantconnect' }, { reject: ['source'] }],
  ['javascript: url', { ...base, url: 'javascript:alert(1)' }, { reject: ['url'] }],
  ['relative url', { ...base, url: '/grants/1' }, { reject: ['url'] }],
  ['a 1 MB amount text', { ...base, amount: `$${'('.repeat(big.length / 2)}` }, { reject: ['amount'] }],
  ['a 1 MB status', { ...base, status: big }, { reject: ['status'] }],
  ['a 1 MB location text', { ...base, locations: 'regional '.repeat(100_000) }, { reject: ['locations'] }],
  ['a list of 1,000 locations', { ...base, locations: Array.from({ length: 1000 }, () => 'Victoria') }, { reject: ['locations'] }],
  ['51 categories', { ...base, categories: Array.from({ length: 51 }, (_, i) => `c${i}`) }, { reject: ['categories'] }],
  ['several faults at once', { ...base, title: '', minAmount: -1, closeDate: '32/01/2026' }, { reject: ['title', 'minAmount', 'closeDate'] }],
  // Accepted, with the documented normalisation.
  ['NUL and control characters in the title', { ...base, title: 'Grant\u0000 for\u0007 all' }, { accept: { title: 'Grant for all' } }],
  ['markup in the description (stripped)', { ...base, description: '<div onclick="x()">Hi<script>evil()</script></div>' }, { accept: { description: 'Hi' } }],
  ['unknown extra fields (ignored)', { ...base, id: 'not-a-uuid', version: 99, hacked: true }, { accept: { externalId: 'g-1' } }],
  ['amount a numeric string', { ...base, maxAmount: '20000' }, { accept: { maxAmount: 20000 } }],
  ['empty strings for optional fields', { ...base, description: '', agency: '', url: '', minAmount: '', closeDate: '', status: '', vicOutcomeDomain: '' }, { accept: { description: null, minAmount: null, closeDate: null, vicOutcomeDomain: null, status: 'open' } }],
];

describe('normalise - hostile records (acceptance 7)', () => {
  it('normalise - the table has at least 30 hostile records', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(30);
  });

  it.each(HOSTILE)('normalise - %s', (_name, input, outcome) => {
    const result = normalise(input);
    if ('reject' in outcome) {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors.map((e) => e.path).sort()).toEqual(expect.arrayContaining([...outcome.reject].sort()));
      for (const e of result.errors) expect(e.message.length).toBeGreaterThan(0);
      // Errors are short enough to publish, whatever the input held.
      expect(JSON.stringify(result.errors).length).toBeLessThan(2_000);
    } else {
      expect(result).toMatchObject({ ok: true, record: outcome.accept });
    }
  });

  it('normalise - never throws, whatever the input', () => {
    const inputs: unknown[] = [undefined, true, 0, NaN, Symbol('x'), () => 1, { externalId: 'x', title: 'y', amount: {} }, Object.create(null), { __proto__: { title: 'x' } }];
    for (const input of inputs) expect(() => normalise(input)).not.toThrow();
  });
});
