/**
 * The filter fields of a grant before each change, in the change log, for filtered live
 * views (CONTRACT v1.1 section 5: a gateway decides that a grant left a view from the
 * event alone). The capture trigger stores them for UPDATE and DELETE (and TRUNCATE) in the
 * same INSERT that logs the change: one more expression, no extra statement. The relay
 * keeps, for an update, only those that changed (capture/leader.ts).
 */
import type { Migration } from '../migrate.js';

/** The filter columns of `grants`, in the order the log's `previous` lists them. */
export const FILTER_COLUMNS = ['source', 'title', 'description', 'agency', 'max_amount', 'close_date', 'status', 'locations', 'vic_outcome_domain'];

/** The filter fields of OLD, as JSON with the table's column names (006 keeps it for deletes). */
export const previous = (row: string) => `json_build_object(${FILTER_COLUMNS.map((c) => `'${c}', ${row}.${c}`).join(', ')})`;

export const migration: Migration = {
  version: 2,
  name: 'previous filter fields in the change log',
  sql: /* sql */ `
ALTER TABLE grant_changes ADD COLUMN previous json;

CREATE OR REPLACE FUNCTION grants_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('delete', OLD.id, OLD.version + 1, NULL, ${previous('OLD')});
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('update', NEW.id, NEW.version, row_to_json(NEW), ${previous('OLD')});
  ELSE
    INSERT INTO grant_changes (op, grant_id, version, row) VALUES ('insert', NEW.id, NEW.version, row_to_json(NEW));
  END IF;
  IF (SELECT relay_idle FROM capture_wakeup) THEN
    PERFORM pg_notify('navimpact_grant_changes', '');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION grants_capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO grant_changes (op, grant_id, version, row, previous)
    SELECT 'delete', g.id, g.version + 1, NULL, ${previous('g')} FROM grants g ORDER BY g.id;
  IF (SELECT relay_idle FROM capture_wakeup) THEN
    PERFORM pg_notify('navimpact_grant_changes', '');
  END IF;
  RETURN NULL;
END $$;
`,
};
