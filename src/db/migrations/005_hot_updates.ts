/**
 * Updates of a grant that change no indexed column are HOT (heap-only tuple) updates again:
 * the new row version goes on the same page and no index is touched.
 *
 * Every real change moves `updated_at` (the stamp trigger, 001), and `updated_at` had a
 * B-tree of its own that no query reads (REST pages in `id` order; nothing filters or sorts
 * on it). So every update, even of one amount, was a non-HOT update that wrote a new entry
 * into every index of the table: since 004 that includes three trigram GIN indexes with
 * `fastupdate = off`, each taking a few hundred trigrams of the row's text. pgbench
 * single-row updates (bench/relay): 13,561 updates/s with no trigger at all, 4,990 with the
 * version stamp alone (issue 15).
 *
 * `fillfactor = 90` leaves a tenth of each new page free, so that the new version of a row
 * finds room on its page (a HOT update needs it). Pages already full get room as rows on
 * them are updated and vacuumed; no table rewrite here.
 */
import type { Migration } from '../migrate.js';

export const migration: Migration = {
  version: 5,
  name: 'HOT updates: no index on updated_at, fillfactor 90',
  sql: /* sql */ `
DROP INDEX IF EXISTS grants_updated_at_idx;
ALTER TABLE grants SET (fillfactor = 90);
`,
};
