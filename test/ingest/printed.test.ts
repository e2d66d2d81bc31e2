/**
 * Issue 16, acceptance: every value of the table (printed on real grant pages, each
 * of which used to cost the whole grant) is kept and read right through the real ingest path
 * — published on NATS as a scraper does, ingested by `src/main.ts` with ROLES=ingest, read
 * back from Postgres — and garbage is still rejected with its path.
 */
import { describe, expect, it } from 'vitest';
import { hasCode } from '../support/service.js';
import { ingestFixtures, publish, query, readRejected, waitIngested, type Outgoing } from './harness.js';

const fx = ingestFixtures();
const SOURCE = 'real-pages';

interface Row {
  external_id: string;
  min_amount: string | null;
  max_amount: string | null;
  open_date: string | null;
  close_date: string | null;
  status: string;
  locations: string[];
}

/** The table: a field, the value as printed, and what the row must hold. */
const TABLE: { field: string; printed: string; row: Partial<Row> }[] = [
  { field: 'maxAmount', printed: 'Not Specified yet', row: { max_amount: null, min_amount: null } },
  { field: 'maxAmount', printed: 'maximum value of $5,000 per annum', row: { max_amount: '5000.00', min_amount: null } },
  { field: 'maxAmount', printed: 'up to $5000 per application', row: { max_amount: '5000.00', min_amount: null } },
  { field: 'closeDate', printed: 'TBA 2023', row: { close_date: null } },
  { field: 'openDate', printed: 'TBA 2023', row: { open_date: null } },
  { field: 'closeDate', printed: '2:00pm AEDT (Canberra time) on TBC', row: { close_date: null } },
  { field: 'openDate', printed: '2:00pm AEDT (Canberra time) on TBC', row: { open_date: null } },
  { field: 'status', printed: 'Open - closing soon', row: { status: 'open' } },
  { field: 'locations', printed: 'Regional Victoria', row: { locations: ['VIC'] } },
];

/** Garbage the issue names: still rejected, each with the path of its field. */
const GARBAGE: { field: string; printed: string }[] = [
  { field: 'maxAmount', printed: 'lots of money' },
  { field: 'closeDate', printed: '31/02/2026' },
  { field: 'locations', printed: 'Atlantis' },
];

describe('printed values from real pages', () => {
  it('printed values from real pages - every value of the issue table kept and read right through NATS and Postgres; garbage rejected with its path', async () => {
    const db = await fx.database();
    const ingest = fx.ingest(db.url);
    await ingest.waitFor(hasCode('RoleStarted'), 30_000, 'ingest started');

    const record = (id: string, field: string, printed: string) => ({ externalId: id, title: `Grant ${id}`, [field]: printed });
    const out: Outgoing[] = [
      ...TABLE.map((t, i) => ({ source: SOURCE, payload: record(`kept-${i}`, t.field, t.printed) })),
      ...GARBAGE.map((g, i) => ({ source: SOURCE, payload: record(`garbage-${i}`, g.field, g.printed) })),
      // All of the table at once, in one record, as a page that prints them all would.
      {
        source: SOURCE,
        payload: {
          externalId: 'all',
          title: 'Grant all',
          maxAmount: 'maximum value of $5,000 per annum',
          openDate: '2:00pm AEDT (Canberra time) on TBC',
          closeDate: 'TBA 2023',
          status: 'Open - closing soon',
          locations: 'Regional Victoria',
        },
      },
    ];
    await publish(fx.nats.url, [out]);
    await waitIngested(fx.nats.url);

    const rows = await query<Row>(
      db.url,
      "SELECT external_id, min_amount::text, max_amount::text, open_date::text, close_date::text, status, locations FROM grants WHERE source = $1",
      [SOURCE],
    );
    const byId = new Map(rows.map((r) => [r.external_id, r]));
    expect([...byId.keys()].sort()).toEqual(['all', ...TABLE.map((_, i) => `kept-${i}`)].sort());
    TABLE.forEach((t, i) => expect(byId.get(`kept-${i}`), `${t.field} ${JSON.stringify(t.printed)}`).toMatchObject(t.row));
    expect(byId.get('all')).toMatchObject({ min_amount: null, max_amount: '5000.00', open_date: null, close_date: null, status: 'open', locations: ['VIC'] });

    const rejected = await readRejected(fx.nats.url);
    expect(rejected).toHaveLength(GARBAGE.length);
    for (const [i, g] of GARBAGE.entries()) {
      const r = rejected.find((x) => (x.record as { externalId?: string }).externalId === `garbage-${i}`);
      expect(r, g.printed).toBeDefined();
      expect(r!.subject).toBe(`scrape.rejected.${SOURCE}`);
      expect(r!.errors.map((e) => e.path)).toEqual([g.field]);
      expect(r!.errors[0]!.message).toContain(g.printed);
    }
  }, 60_000);
});
