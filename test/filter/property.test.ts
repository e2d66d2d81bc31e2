/**
 * The filter grammar's two sides agree (issue 12, acceptance 1): for 10,000 random grants in
 * real Postgres and hundreds of random filters, the rows `filterSql` selects (the SQL REST
 * runs) are exactly the grants `matches` accepts (what the gateway decides in memory).
 * Edge cases are generated on purpose: null amounts and dates, empty arrays, case and
 * accents in `q`, LIKE's wildcards in `q`, dates on the inclusive bounds. The generator is
 * seeded; a failure prints the seed and the filter.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { canonicalQuery, matches, parseFilter } from '../../src/domain/filter.js';
import { GrantFromRow, type Grant } from '../../src/domain/grant.js';
import { filterSql } from '../../src/rest/filter-sql.js';
import { testLog } from '../support/log.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { GRANT_COLUMNS, RandomGrants } from '../support/random-grants.js';

const SEED = Number(process.env.FILTER_SEED ?? 20261130);
const GRANTS = 10_000;
const FILTERS = 400;

const gen = new RandomGrants(SEED);

let db: TestDatabase;
let pool: pg.Pool;
let grants: Grant[];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ url: db.url, size: 4, applicationName: 'filter-property' }, testLog);
  await migrate(pool, testLog);
  const columns = `(${GRANT_COLUMNS.join(', ')})`;
  for (let start = 0; start < GRANTS; start += 500) {
    const values: unknown[] = [];
    const rows: string[] = [];
    for (let i = start; i < start + 500; i++) {
      const v = gen.grantValues(`g-${i}`);
      rows.push(`(${v.map((_, k) => `$${values.length + k + 1}`).join(', ')})`);
      values.push(...v);
    }
    await pool.query(`INSERT INTO grants ${columns} VALUES ${rows.join(', ')}`, values);
  }
  const { rows } = await pool.query('SELECT * FROM grants');
  grants = rows.map((r) => GrantFromRow.parse(r));
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('filter property', () => {
  it(`filter property - SQL and memory select the same grants for ${FILTERS} random filters over ${GRANTS} random grants (seed ${SEED})`, async () => {
    expect(grants).toHaveLength(GRANTS);
    let nonEmpty = 0;
    for (let n = 0; n < FILTERS; n++) {
      const filter = gen.filter(grants);
      const params: unknown[] = [];
      const { rows } = await pool.query<{ id: string }>(`SELECT g.id FROM grants g WHERE ${filterSql(filter, params)}`, params);
      const bySql = new Set(rows.map((r) => r.id));
      const byMemory = new Set(grants.filter((g) => matches(filter, g)).map((g) => g.id));
      const onlySql = [...bySql].filter((id) => !byMemory.has(id));
      const onlyMemory = [...byMemory].filter((id) => !bySql.has(id));
      const show = (id: string | undefined) => JSON.stringify(grants.find((g) => g.id === id));
      expect({ filter: canonicalQuery(filter), onlySql: onlySql.length, onlyMemory: onlyMemory.length }, `seed ${SEED}, filter ${canonicalQuery(filter)}: ${show(onlySql[0] ?? onlyMemory[0])}`).toEqual({
        filter: canonicalQuery(filter),
        onlySql: 0,
        onlyMemory: 0,
      });
      if (bySql.size > 0) nonEmpty++;
    }
    // The generator must find matches often, or agreement says little.
    expect(nonEmpty).toBeGreaterThan(FILTERS / 3);
  }, 120_000);

  it('filter property - the canonical form is stable: any order and case of the same filter gives the same query, and it parses back to itself', () => {
    for (let n = 0; n < 2_000; n++) {
      const filter = gen.filter(grants);
      const query = canonicalQuery(filter);
      const shuffled = [...new URLSearchParams(query)].sort(() => gen.random() - 0.5).map(([k, v]) => [k, k === 'q' ? v : v.split(',').reverse().join(',')] as [string, string]);
      expect(canonicalQuery(parseFilter(shuffled))).toBe(query);
      expect(canonicalQuery(parseFilter(new URLSearchParams(query)))).toBe(query);
    }
  });
});
