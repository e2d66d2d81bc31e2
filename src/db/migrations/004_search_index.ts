/**
 * Indexes that serve `q` (CONTRACT v1.1 section 6: a case-insensitive substring of title,
 * agency or description), which REST runs as `ILIKE '%q%'` on each of the three columns
 * (rest/filter-sql.ts). A leading wildcard defeats a B-tree: without these, every new `q`
 * was a sequential scan of `grants`. A trigram GIN index per column (pg_trgm) answers ILIKE
 * with any wildcards; the planner combines the three with a BitmapOr, and rechecks each
 * candidate row with ILIKE itself, so the result is exactly the unindexed one.
 *
 * pg_trgm is a trusted extension (Postgres 13 and later): the owner of the database may
 * create it without being superuser, as the production role does
 * (deploy/postgres/init-navimpact.sh creates it too, as superuser, for servers that do not
 * trust it). `IF NOT EXISTS` keeps the migration idempotent either way.
 *
 * `fastupdate = off`: a row's trigrams go into the index as it is written, not into a
 * pending list that every search must read through until a vacuum merges it (with one, the
 * planner rightly preferred scanning the table after a large ingest). Grants are written
 * in batches of changed rows only, so the extra cost per write is small.
 *
 * Patterns of fewer than three characters (`q` may have two) yield no trigram; the planner
 * then scans, and DATABASE_STATEMENT_TIMEOUT bounds what that costs (docs/rest.md).
 */
import type { Migration } from '../migrate.js';

export const migration: Migration = {
  version: 4,
  name: 'trigram indexes for q',
  sql: /* sql */ `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX grants_title_trgm_idx ON grants USING gin (title gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX grants_agency_trgm_idx ON grants USING gin (agency gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX grants_description_trgm_idx ON grants USING gin (description gin_trgm_ops) WITH (fastupdate = off);
`,
};
