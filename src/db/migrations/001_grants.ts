/**
 * Grants, and change capture: the change log, the relay's state, and the triggers that
 * give every committed change of a row exactly one log entry, whoever writes.
 *
 * # Why the triggers look like this
 * - `grants_stamp` (BEFORE) owns `version`, `created_at` and `updated_at`: whatever a writer
 *   puts there is overwritten, the version rises by one on every real change and not at
 *   all on an UPDATE that changes nothing (the row compared with the stamps held equal).
 * - `grants_capture` (AFTER) writes the log row in the writer's own transaction, so a
 *   rollback removes it, and, only while the relay is idle, sends a NOTIFY that carries no
 *   data: it only wakes the relay, which reads the log (the source of truth).
 * - The log id is taken while the writer holds the row lock, so for one grant log order is
 *   commit order; see docs/capture.md for how the relay orders across grants.
 * - TRUNCATE logs a delete for every row instead of bypassing capture.
 * - The functions run as their owner with the search path they were created with, so any
 *   role allowed to write `grants` is captured without rights on the log.
 */
import { GRANT_STATUSES, LOCATIONS } from '../../domain/grant.js';
import type { Migration } from '../migrate.js';

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * The body of `grants_stamp` (from BEGIN to END): `onChange` runs after a real update is
 * stamped (migration 007 logs the update there).
 */
export const stampBody = (onChange: string) => `BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.version := 1;
    NEW.created_at := now();
    NEW.updated_at := now();
    RETURN NEW;
  END IF;
  IF NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'grants.id cannot change; delete the row and insert a new one'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  NEW.version := OLD.version;
  NEW.created_at := OLD.created_at;
  NEW.updated_at := OLD.updated_at;
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();${onChange}
  END IF;
  RETURN NEW;
END`;

export const migration: Migration = {
  version: 1,
  name: 'grants and change capture',
  sql: /* sql */ `
CREATE TABLE vic_outcome_domains (
  code text PRIMARY KEY
);

CREATE TABLE grants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  source text NOT NULL DEFAULT 'manual',
  external_id text NOT NULL DEFAULT gen_random_uuid()::text,
  title text NOT NULL CONSTRAINT grants_title_check CHECK (btrim(title) <> ''),
  description text,
  agency text,
  url text,
  min_amount numeric(14,2) CONSTRAINT grants_min_amount_check CHECK (min_amount >= 0),
  max_amount numeric(14,2) CONSTRAINT grants_max_amount_check CHECK (max_amount >= 0),
  currency char(3) NOT NULL DEFAULT 'AUD',
  open_date date,
  close_date date,
  status text NOT NULL DEFAULT 'open' CONSTRAINT grants_status_check CHECK (status IN (${list(GRANT_STATUSES)})),
  categories text[] NOT NULL DEFAULT '{}',
  locations text[] NOT NULL DEFAULT '{}' CONSTRAINT grants_locations_check CHECK (locations <@ ARRAY[${list(LOCATIONS)}]::text[]),
  vic_outcome_domain text REFERENCES vic_outcome_domains (code),
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT grants_source_external_id_key UNIQUE (source, external_id),
  CONSTRAINT grants_amounts_check CHECK (min_amount <= max_amount)
);
CREATE INDEX grants_status_idx ON grants (status);
CREATE INDEX grants_updated_at_idx ON grants (updated_at);

CREATE TABLE grant_changes (
  log_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  grant_id uuid NOT NULL,
  version bigint NOT NULL,
  row json,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

CREATE TABLE relay_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch uuid NOT NULL DEFAULT gen_random_uuid(),
  stream_seq bigint NOT NULL DEFAULT 0,
  published_at timestamptz
);
INSERT INTO relay_state DEFAULT VALUES;

-- Whether the publishing relay waits for a NOTIFY. While it is busy it polls the log, and
-- writers skip the NOTIFY: Postgres serialises the commits of all notifying transactions
-- (one lock held through the commit flush), which would cost writers their group commit.
CREATE TABLE capture_wakeup (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  relay_idle boolean NOT NULL DEFAULT true
);
INSERT INTO capture_wakeup DEFAULT VALUES;

CREATE FUNCTION grants_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
${stampBody('')} $$;

CREATE FUNCTION grants_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO grant_changes (op, grant_id, version, row) VALUES ('delete', OLD.id, OLD.version + 1, NULL);
  ELSE
    INSERT INTO grant_changes (op, grant_id, version, row) VALUES (lower(TG_OP), NEW.id, NEW.version, row_to_json(NEW));
  END IF;
  IF (SELECT relay_idle FROM capture_wakeup) THEN
    PERFORM pg_notify('navimpact_grant_changes', '');
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION grants_capture_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO grant_changes (op, grant_id, version, row)
    SELECT 'delete', id, version + 1, NULL FROM grants ORDER BY id;
  IF (SELECT relay_idle FROM capture_wakeup) THEN
    PERFORM pg_notify('navimpact_grant_changes', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER grants_stamp BEFORE INSERT OR UPDATE ON grants
  FOR EACH ROW EXECUTE FUNCTION grants_stamp();
CREATE TRIGGER grants_capture_insert_delete AFTER INSERT OR DELETE ON grants
  FOR EACH ROW EXECUTE FUNCTION grants_capture();
CREATE TRIGGER grants_capture_update AFTER UPDATE ON grants
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION grants_capture();
CREATE TRIGGER grants_capture_truncate BEFORE TRUNCATE ON grants
  FOR EACH STATEMENT EXECUTE FUNCTION grants_capture_truncate();
`,
};
