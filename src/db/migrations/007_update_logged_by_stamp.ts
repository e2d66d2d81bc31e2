/**
 * An update is stamped and logged by one BEFORE trigger (issue 15: what capture costs
 * writers).
 *
 * Until 006 an update ran two plpgsql triggers: `grants_stamp` (BEFORE: the version and
 * times) and `grants_capture` (AFTER: the log row). Each call of a row trigger costs the
 * writer its own plpgsql entry, search path switch and, for an AFTER trigger, a queued
 * event that fetches the row again. `grants_stamp` now also logs the update, so an update
 * runs one trigger function. pgbench single-row updates on a CPU-bound 2-core VM, five
 * interleaved rounds (bench/README.md, "One trigger for an update"): 8,348-8,504 updates/s
 * with the two triggers, 8,656-8,931 with one (+4.4% by the medians).
 *
 * Why a BEFORE trigger may log: the row is already locked when it runs (Postgres locks the
 * old row, following a concurrent update to its latest version, before it calls BEFORE
 * UPDATE row triggers), so the log id is still taken while the writer holds the row, as
 * the relay's ordering needs (capture/changelog.ts); and that lock gives the transaction
 * its id, so the writer has its id before it reads the idle flag, as the idle protocol
 * needs (capture/leader.ts; test/capture/log-row.test.ts checks this on the Postgres it
 * runs against). An update that fails after the trigger (a CHECK, a unique key) fails its
 * statement, and the log row goes with it. A no-op update still logs nothing.
 *
 * What the BEFORE trigger logs is the row stored only while it is the last BEFORE row
 * trigger on `grants` (Postgres runs them by name; a later one could change the row or
 * cancel the update after it was logged) and no column of `grants` is generated (those are
 * computed after BEFORE triggers). test/capture/log-row.test.ts checks both for the
 * schema the migrations make; another application must not add BEFORE row triggers to
 * `grants` (docs/capture.md).
 *
 * Inserts and deletes stay in the AFTER trigger: a BEFORE INSERT of an upsert runs before
 * Postgres knows whether the row conflicts. `grants_stamp` becomes SECURITY DEFINER (it
 * writes the log, which writers may not be granted), so its search path is pinned as 003
 * does; `grants_capture` keeps only its insert and delete.
 */
import type { Migration } from '../migrate.js';
import { previous } from './002_previous_values.js';
import { stampBody } from './001_grants.js';
import { changedColumns, logDelete, logInsert, notifyIfIdle, pinSearchPath } from './006_previous_changed_only.js';

/** What an update logs, as 006's AFTER trigger logged it (the idle flag read first). */
const logUpdate = /* sql */ `
  SELECT relay_idle, previous_changed_only INTO idle, changed_only FROM capture_wakeup;
  IF changed_only THEN
    p := '{}';
${changedColumns}
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('update', NEW.id, NEW.version, row_to_json(NEW), p::json);
  ELSE
    -- No relay of 006 or later has led yet: all nine, for an older relay.
    INSERT INTO grant_changes (op, grant_id, version, row, previous) VALUES ('update', NEW.id, NEW.version, row_to_json(NEW), ${previous('OLD')});
  END IF;
${notifyIfIdle}`;

/**
 * `grants_stamp`: the version and times of a row (as 001), and, when `capture`, the log
 * row of a real update. bench/relay builds its stamp-only baseline with `capture` false.
 */
export function stampFunction(capture: boolean): string {
  return /* sql */ `
CREATE OR REPLACE FUNCTION grants_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  idle boolean;
  changed_only boolean;
  p jsonb;
${stampBody(capture ? logUpdate.replace(/\n(?=.)/g, '\n  ') : '')} $$;
${pinSearchPath('grants_stamp')}
`;
}

export const migration: Migration = {
  version: 7,
  name: 'an update is stamped and logged by one BEFORE trigger',
  sql: /* sql */ `
${stampFunction(true)}
DROP TRIGGER grants_capture_update ON grants;

CREATE OR REPLACE FUNCTION grants_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  idle boolean;
BEGIN
  SELECT relay_idle INTO idle FROM capture_wakeup;
  IF TG_OP = 'DELETE' THEN
${logDelete}
  ELSE
${logInsert}
  END IF;
${notifyIfIdle}
  RETURN NULL;
END $$;
${pinSearchPath('grants_capture')}
`,
};
