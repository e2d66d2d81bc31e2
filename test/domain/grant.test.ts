/**
 * The Grant mapping (CONTRACT section 7): whatever a row came from, a `pg` result or
 * `row_to_json` in the change log, it leaves as the same Grant, with amounts as JSON
 * numbers and dates as YYYY-MM-DD.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChangeEvent } from '../../src/domain/events.js';
import { Grant, GrantFromRow, LOCATIONS, GRANT_STATUSES, VIC_OUTCOME_DOMAINS, type GrantRow } from '../../src/domain/grant.js';

const ID = randomUUID();

/** A row as `pg` returns it with the service's type parsers: numeric and bigint as text. */
function pgRow(overrides: Partial<Record<keyof GrantRow, unknown>> = {}): Record<string, unknown> {
  return {
    id: ID,
    source: 'business.gov.au',
    external_id: 'BGA-0001',
    title: 'Community Sport Infrastructure',
    description: 'Funding for local sporting facilities.',
    agency: 'Department of Health',
    url: 'https://business.gov.au/grants/csi',
    min_amount: '5000.00',
    max_amount: '20000.50',
    currency: 'AUD',
    open_date: '2026-03-31',
    close_date: '2026-06-30',
    status: 'open',
    categories: ['sport', 'community'],
    locations: ['VIC', 'NSW'],
    vic_outcome_domain: 'community',
    version: '7',
    created_at: new Date('2026-01-01T00:00:00Z'),
    updated_at: new Date('2026-03-30T23:00:00.123Z'),
    ...overrides,
  };
}

/** The same row as `row_to_json` writes it (then JSON.parse): numbers and ISO text. */
function jsonRow(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      ...pgRow(),
      min_amount: 5000.0,
      max_amount: 20000.5,
      currency: 'AUD',
      version: 7,
      created_at: '2026-01-01T11:00:00+11:00',
      // Postgres prints microseconds and the session's offset.
      updated_at: '2026-03-31T10:00:00.123456+11:00',
      ...overrides,
    }),
  ) as Record<string, unknown>;
}

describe('domain - GrantFromRow', () => {
  it('domain - a pg row and a row_to_json row map to the same Grant', () => {
    const fromPg = GrantFromRow.parse(pgRow());
    const fromJson = GrantFromRow.parse(jsonRow());
    expect(fromJson).toEqual(fromPg);
    expect(fromPg).toEqual({
      id: ID,
      source: 'business.gov.au',
      externalId: 'BGA-0001',
      title: 'Community Sport Infrastructure',
      description: 'Funding for local sporting facilities.',
      agency: 'Department of Health',
      url: 'https://business.gov.au/grants/csi',
      minAmount: 5000,
      maxAmount: 20000.5,
      currency: 'AUD',
      openDate: '2026-03-31',
      closeDate: '2026-06-30',
      status: 'open',
      categories: ['sport', 'community'],
      locations: ['VIC', 'NSW'],
      vicOutcomeDomain: 'community',
      version: 7,
      updatedAt: '2026-03-30T23:00:00.123Z',
    });
    // The mapped value is a valid Grant of the API.
    expect(Grant.parse(fromPg)).toEqual(fromPg);
  });

  it('domain - JSON shows amounts as numbers and dates as YYYY-MM-DD', () => {
    const text = JSON.stringify(GrantFromRow.parse(pgRow()));
    expect(text).toContain('"minAmount":5000,');
    expect(text).toContain('"maxAmount":20000.5,');
    expect(text).toContain('"openDate":"2026-03-31"');
    expect(text).toContain('"closeDate":"2026-06-30"');
    expect(text).toContain('"version":7,');
    expect(text).toContain('"updatedAt":"2026-03-30T23:00:00.123Z"');
    expect(text).not.toMatch(/"(minAmount|maxAmount|version)":"/);
    // No snake_case or database-only field leaks out.
    expect(text).not.toMatch(/external_id|created_at|updated_at|min_amount/);
  });

  it('domain - nulls and empty arrays map as nulls and empty arrays', () => {
    const grant = GrantFromRow.parse(
      pgRow({
        description: null,
        agency: null,
        url: null,
        min_amount: null,
        max_amount: null,
        open_date: null,
        close_date: null,
        categories: null,
        locations: null,
        vic_outcome_domain: null,
        currency: 'AUD',
      }),
    );
    expect(grant).toMatchObject({
      description: null,
      minAmount: null,
      maxAmount: null,
      openDate: null,
      closeDate: null,
      categories: [],
      locations: [],
      vicOutcomeDomain: null,
    });
    expect(JSON.stringify(grant)).toContain('"minAmount":null');
  });

  it('domain - every enumerated value is accepted', () => {
    for (const status of GRANT_STATUSES) expect(GrantFromRow.parse(pgRow({ status })).status).toBe(status);
    expect(GrantFromRow.parse(pgRow({ locations: [...LOCATIONS] })).locations).toEqual([...LOCATIONS]);
    for (const domain of VIC_OUTCOME_DOMAINS) expect(GrantFromRow.parse(pgRow({ vic_outcome_domain: domain })).vicOutcomeDomain).toBe(domain);
  });

  it('domain - a row is mapped as stored where the database is looser than ingest (a hand-added outcome domain, an empty source)', () => {
    // The lookup table may hold a value added by hand; only the Victorian export refuses it (422).
    expect(GrantFromRow.parse(pgRow({ vic_outcome_domain: 'tourism' })).vicOutcomeDomain).toBe('tourism');
    expect(GrantFromRow.parse(pgRow({ source: '' })).source).toBe('');
  });

  const refused: [field: string, value: unknown][] = [
    ['locations', ['Victoria']],
    ['locations', ['vic']],
    ['status', 'pending'],
    ['status', 'Open'],
    ['min_amount', '$5,000'],
    ['min_amount', '5,000.00'],
    ['max_amount', 'lots'],
    ['version', '7.5'],
    ['version', 'seven'],
    ['open_date', '31/03/2026'],
    ['open_date', new Date('2026-03-31T00:00:00Z')],
    ['updated_at', 'yesterday'],
    ['id', 'not-a-uuid'],
  ];
  for (const [field, value] of refused) {
    it(`domain - ${field}=${JSON.stringify(value)} is refused`, () => {
      const result = GrantFromRow.safeParse(pgRow({ [field]: value } as Partial<Record<keyof GrantRow, unknown>>));
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path[0]).toBe(field);
    });
  }

  it('domain - the API Grant refuses amounts as strings', () => {
    const grant = GrantFromRow.parse(pgRow());
    expect(Grant.safeParse({ ...grant, minAmount: '5000.00' }).success).toBe(false);
    expect(Grant.safeParse({ ...grant, openDate: '2026-03-31T00:00:00Z' }).success).toBe(false);
    expect(Grant.safeParse({ ...grant, minAmount: -1 }).success).toBe(false);
  });
});

describe('domain - ChangeEvent', () => {
  const grant = GrantFromRow.parse(pgRow());
  const base = { seq: 12, id: ID, version: 7, committedAt: '2026-03-31T10:00:00.123Z' };

  it('domain - insert and update carry the grant, delete carries null', () => {
    expect(ChangeEvent.safeParse({ ...base, op: 'insert', grant }).success).toBe(true);
    expect(ChangeEvent.safeParse({ ...base, op: 'update', grant }).success).toBe(true);
    expect(ChangeEvent.safeParse({ ...base, op: 'delete', grant: null }).success).toBe(true);
  });

  it('domain - a delete carrying a grant is refused', () => {
    const result = ChangeEvent.safeParse({ ...base, op: 'delete', grant });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['grant']);
  });

  it('domain - an insert or update without a grant is refused', () => {
    expect(ChangeEvent.safeParse({ ...base, op: 'update', grant: null }).success).toBe(false);
    expect(ChangeEvent.safeParse({ ...base, op: 'insert', grant: null }).success).toBe(false);
  });

  it('domain - bad seq, op or committedAt are refused', () => {
    expect(ChangeEvent.safeParse({ ...base, seq: 0, op: 'update', grant }).success).toBe(false);
    expect(ChangeEvent.safeParse({ ...base, op: 'upsert', grant }).success).toBe(false);
    expect(ChangeEvent.safeParse({ ...base, committedAt: 'now', op: 'update', grant }).success).toBe(false);
  });
});
