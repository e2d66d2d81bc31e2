/**
 * An update logs, in `previous`, only the filter fields it changed (issue 15: what capture
 * costs writers).
 *
 * 002 logged all nine filter fields of OLD on every update, description included, and the
 * relay then kept only those that changed (capture/previous.ts). Writing the ones the relay
 * drops cost the writer's transaction: the log row of a typical update was 1,470 bytes
 * (the row's JSON and its previous description twice over), 921 with this change; finding
 * a page for it cost 26-31 us of Postgres CPU per single-row update, 15-18 after, and the
 * whole update 418-456 us against 365-393 in interleaved runs by hand (bench/README.md,
 * "The log row of an update"). The relay still compares what it reads with the
 * row, so an event is the same whichever trigger wrote its log row, and log rows written by
 * 002's trigger (all nine fields) still read right after an upgrade. A delete (and TRUNCATE)
 * still logs all nine: a view must know whether the grant was in it.
 *
 * A rolling upgrade: every process migrates as it starts, so a relay of an older release
 * may still lead after this migration, and it reads an update's `previous` only with all
 * nine fields (without them its events lose `previous`, and filtered views would be sent a
 * `leave` for grants they never held). The trigger therefore logs the changed fields only
 * once `capture_wakeup.previous_changed_only` is set, which a relay of this release sets
 * whenever it sets the idle flag, first as it starts to lead (capture/changelog.ts).
 * Until then it logs all nine, as 002 did. Left open: an older relay that takes the lead
 * back after a newer one led (a rollback of the release) publishes updates without
 * `previous`, as docs/protocol.md describes for changes logged before 002.
 *
 * `vacuum_truncate = false`: the log is a queue the relay empties; a vacuum that cut its
 * empty tail made writers extend the file again page by page (Postgres 15 extends under a
 * lock, one write per page), and cutting it takes an ACCESS EXCLUSIVE lock on the log that
 * writers' INSERTs wait behind while it is held. The pages stay and are reused from the free
 * space map.
 *
 * The function is recreated, so its search path is pinned again as 003 does.
 */
import type { Migration } from '../migrate.js';
import { FILTER_COLUMNS, previous } from './002_previous_values.js';

/** `p := p || {column: OLD.column}` for each filter column the update changed (007 logs updates with it). */
export const changedColumns = FILTER_COLUMNS.map(
  (c) => `    IF NEW.${c} IS DISTINCT FROM OLD.${c} THEN p := p || jsonb_build_object('${c}', OLD.${c}); END IF;`,
).join('\n');

/** The log rows of a delete (all nine filter fields of OLD) and of an insert, as 002 writes them (007 keeps them). */
export const logDelete = `    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('delete', OLD.id, OLD.version + 1, NULL, ${previous('OLD')});`;
export const logInsert = `    INSERT INTO grant_changes (op, grant_id, version, row) VALUES ('insert', NEW.id, NEW.version, row_to_json(NEW));`;

/** The wake-up: a NOTIFY while the relay is idle (capture/wakeup.ts). */
export const notifyIfIdle = `  IF idle THEN
    PERFORM pg_notify('navimpact_grant_changes', '');
  END IF;`;

/** Pins a recreated function's search path as 003 does. */
export const pinSearchPath = (fn: string) => `DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION %I.${fn}() SET search_path = pg_catalog, %I, pg_temp', current_schema(), current_schema());
END $$;`;

export const migration: Migration = {
  version: 6,
  name: 'an update logs only the filter fields it changed',
  sql: /* sql */ `
ALTER TABLE capture_wakeup ADD COLUMN previous_changed_only boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION grants_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  idle boolean;
  changed_only boolean;
  p jsonb;
BEGIN
  SELECT relay_idle, previous_changed_only INTO idle, changed_only FROM capture_wakeup;
  IF TG_OP = 'DELETE' THEN
${logDelete}
  ELSIF TG_OP = 'UPDATE' AND changed_only THEN
    p := '{}';
${changedColumns}
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('update', NEW.id, NEW.version, row_to_json(NEW), p::json);
  ELSIF TG_OP = 'UPDATE' THEN
    -- No relay of 006 or later has led yet: all nine, as 002, for an older relay.
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('update', NEW.id, NEW.version, row_to_json(NEW), ${previous('OLD')});
  ELSE
${logInsert}
  END IF;
${notifyIfIdle}
  RETURN NULL;
END $$;
${pinSearchPath('grants_capture')}

ALTER TABLE grant_changes SET (vacuum_truncate = false);
`,
};
