/**
 * What the backup and restore commands say when a PostgreSQL program fails (src/cli/dump.ts):
 * the lines that say why, and whether psql was stopped by a lock timeout, from stderr as
 * psql 15 writes it with `-v VERBOSITY=verbose`.
 */
import { describe, expect, it } from 'vitest';
import { isLockTimeout, ToolError, why } from '../../src/cli/dump.js';

const LOCK = `psql:<stdin>:2: ERROR:  55P03: canceling statement due to lock timeout
LOCATION:  ProcessInterrupts, postgres.c:3312`;
const FOREIGN_KEY = `psql:<stdin>:9120: ERROR:  23503: update or delete on table "vic_outcome_domains" violates foreign key constraint "grants_vic_outcome_domain_fkey" on table "grants"
DETAIL:  Key (code)=(gone) is still referenced from table "grants".
SCHEMA NAME:  public
TABLE NAME:  grants
CONSTRAINT NAME:  grants_vic_outcome_domain_fkey
LOCATION:  ri_ReportViolation, ri_triggers.c:2609`;
const QUOTED = `psql:<stdin>:300: ERROR:  22P02: invalid input syntax for type numeric: "x"
CONTEXT:  COPY grants, line 7, column title: "ERROR:  55P03: a title"
LOCATION:  set_var_from_str, numeric.c:7010`;

describe('cli - PostgreSQL programs that fail', () => {
  it('dump - why: the ERROR and DETAIL lines of a verbose psql error, the last three lines of anything else', () => {
    expect(why(FOREIGN_KEY)).toBe(
      'psql:<stdin>:9120: ERROR:  23503: update or delete on table "vic_outcome_domains" violates foreign key constraint "grants_vic_outcome_domain_fkey" on table "grants" | DETAIL:  Key (code)=(gone) is still referenced from table "grants".',
    );
    expect(why('pg_restore: error: could not read input file: end of file\nline two\nline three\nline four\n')).toBe('line two | line three | line four');
  });

  it('dump - isLockTimeout: a 55P03 ERROR only, not one quoted from the data in a CONTEXT line', () => {
    expect(isLockTimeout(new ToolError('psql failed', LOCK))).toBe(true);
    expect(isLockTimeout(new ToolError('psql failed', FOREIGN_KEY))).toBe(false);
    expect(isLockTimeout(new ToolError('psql failed', QUOTED))).toBe(false);
    expect(isLockTimeout(new Error(LOCK))).toBe(false);
  });
});
