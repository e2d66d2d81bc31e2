/**
 * The capture functions run with a pinned search path (issue 10 item 5).
 *
 * `SET search_path FROM CURRENT` (001, 002) saved the migrating session's path, and
 * Postgres searches `pg_temp` first for tables unless the path names it: a writer could
 * `CREATE TEMP TABLE grant_changes (...)` (or `capture_wakeup`) and its changes to `grants`
 * went into its own temporary table, never to the relay. Each function now searches
 * `pg_catalog`, then the schema the migrations run in, then `pg_temp` last, so no session
 * can shadow a name the functions use (functions and operators are never looked up in
 * `pg_temp`). `grants_stamp` is pinned too, although it reads no table, so that every
 * trigger function resolves names the same way. A later migration that recreates one of
 * these functions must pin its path the same way: test/capture/search-path.test.ts checks
 * every SECURITY DEFINER function of the schema.
 */
import type { Migration } from '../migrate.js';

export const migration: Migration = {
  version: 3,
  name: 'capture functions with a pinned search path',
  sql: /* sql */ `
DO $$
DECLARE
  fn text;
BEGIN
  FOREACH fn IN ARRAY ARRAY['grants_stamp', 'grants_capture', 'grants_capture_truncate'] LOOP
    EXECUTE format('ALTER FUNCTION %I.%I() SET search_path = pg_catalog, %I, pg_temp', current_schema(), fn, current_schema());
  END LOOP;
END $$;
`,
};
