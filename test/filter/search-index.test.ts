/**
 * The trigram indexes of migration 004 serve `q` (issue 10 item 3): on a table of realistic
 * size, the planner answers the very statement REST runs for a new `q` (rest/grants.ts
 * `pageSql`) from the three indexes instead of scanning `grants`, and through the indexes
 * ILIKE selects exactly the rows it selects without them, case, accents and LIKE's wildcards
 * included (what test/filter/property.test.ts checks against the in-memory matcher).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { parseFilter } from '../../src/domain/filter.js';
import { pageSql } from '../../src/rest/grants.js';
import { testLog } from '../support/log.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const GRANTS = 30_000;
const TRICKY = ['Health', 'CAFÉ café cafe', 'Über über', 'İstanbul', 'straße STRASSE', 'ΣΟΦΙΑ σοφία', '100% funded', 'fund_2026', 'a\\b path', 'Élan élan'];

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  const pool = createPool({ url: db.url, size: 1, applicationName: 'search-index' }, testLog);
  await migrate(pool, testLog);
  await pool.end();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(
    `INSERT INTO grants (source, external_id, title, agency, description)
     SELECT 'idx', 'g-' || i, 'Grant ' || md5(i::text), 'Agency ' || (i % 40), 'About ' || md5((i * 7)::text) || ' ' || md5((i * 13)::text)
       FROM generate_series(1, $1) AS i`,
    [GRANTS],
  );
  for (const [i, text] of TRICKY.entries()) {
    await client.query(`INSERT INTO grants (source, external_id, title, agency, description) VALUES ('idx', $1, $2, $3, $4)`, [`t-${i}`, text, i % 2 ? text.toUpperCase() : null, `x ${text} y`]);
  }
  await client.query('ANALYZE grants');
}, 120_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** Every plan node of an EXPLAIN (FORMAT JSON) answer. */
function nodes(plan: Record<string, unknown>): Record<string, unknown>[] {
  const children = (plan.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [plan, ...children.flatMap(nodes)];
}

async function ids(q: string): Promise<string[]> {
  const { text, values } = pageSql(parseFilter([['q', q]]), null, GRANTS + 100);
  const { rows } = await client.query<{ id: string | null }>(text, values);
  return rows.map((r) => r.id).filter((id): id is string => id !== null);
}

describe('search index', () => {
  it(`search index - a new q over ${GRANTS} grants is answered from the trigram indexes, not a scan of grants`, async () => {
    const { text, values } = pageSql(parseFilter([['q', 'zq7xw2k9']]), null, 501);
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: Record<string, unknown>; 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
    const [explained] = rows[0]!['QUERY PLAN'];
    const all = nodes(explained.Plan);
    const indexes = all.filter((n) => n['Node Type'] === 'Bitmap Index Scan').map((n) => n['Index Name']);
    expect(indexes.sort(), JSON.stringify(explained.Plan)).toEqual(['grants_agency_trgm_idx', 'grants_description_trgm_idx', 'grants_title_trgm_idx']);
    expect(all.some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'grants')).toBe(false);
    expect(all.some((n) => n['Node Type'] === 'Index Scan' && n['Relation Name'] === 'grants')).toBe(false);
    testLog.info({ executionMs: explained['Execution Time'] }, 'search index: a new q');
  });

  it('search index - through the indexes ILIKE selects exactly what it selects without them (case, accents, wildcards)', async () => {
    const queries = ['health', 'HEALTH', 'café', 'CAFE', 'über', 'İs', 'istanbul', 'straße', 'σοφία', 'ΣΟΦ', '100%', '0%', 'd_2', 'a\\b', 'élan', 'ÉLAN', 'agency 1', 'ab', 'zz'];
    for (const q of queries) {
      await client.query('SET enable_bitmapscan = off');
      await client.query('SET enable_seqscan = on');
      const scanned = await ids(q);
      await client.query('SET enable_bitmapscan = on');
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_indexscan = off');
      const indexed = await ids(q);
      await client.query('RESET ALL');
      expect(indexed, q).toEqual(scanned);
    }
  }, 180_000);
});
