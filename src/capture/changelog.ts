/**
 * The change log in Postgres, as the relay sees it: read the oldest unpublished changes in
 * publishing order, and forget them once NATS holds them.
 *
 * # Ordering
 * A pass reads the log through one snapshot, so everything it publishes committed before
 * everything a later pass publishes: across passes, publishing order is commit order.
 * Within a pass, all read changes committed in the same window; Postgres records no
 * commit order inside it, so the pass orders whole transactions by their last log id and
 * keeps each transaction's changes together. For one grant this is exactly commit order:
 * a writer takes its log id while holding the row lock, so a later change of a row has a
 * higher log id than every log id of the transaction that changed the row before it.
 *
 * # Nothing skipped
 * There is no cursor to skip past a late commit: a change stays in the log until it is
 * published, and is deleted only after NATS acknowledged it (see docs/capture.md).
 */
import type pg from 'pg';
import { ChangeOp } from '../domain/events.js';

export const NOTIFY_CHANNEL = 'navimpact_grant_changes';

export interface LoggedChange {
  logId: string;
  op: ChangeOp;
  grantId: string;
  version: number;
  /** The row after the change, as `row_to_json` wrote it; null for a delete. */
  row: Record<string, unknown> | null;
  /** The filter fields before the change (update, delete), with the table's column names. */
  previous: Record<string, unknown> | null;
  changedAt: Date;
}

export interface RelayState {
  epoch: string;
  streamSeq: number;
}

/** Changes that reached the stream and the stream position after them, not yet recorded. */
export interface Published {
  logIds: readonly string[];
  streamSeq: number;
}

/** The columns a pass reads, in publishing order (see Ordering above). */
const BATCH_SELECT = `SELECT log_id, op, grant_id, version, row, previous, changed_at FROM batch
     ORDER BY max(log_id) OVER (PARTITION BY txid), log_id`;
const READ_SQL = `WITH batch AS (
       SELECT log_id, txid, op, grant_id, version, row, previous, changed_at
       FROM grant_changes ORDER BY log_id LIMIT $1
     )
     ${BATCH_SELECT}`;
const RECORD_AND_READ_SQL = `WITH published AS (DELETE FROM grant_changes WHERE log_id = ANY($2::bigint[])),
     recorded AS (UPDATE relay_state SET stream_seq = $3, published_at = now()),
     batch AS (
       SELECT log_id, txid, op, grant_id, version, row, previous, changed_at
       FROM grant_changes WHERE log_id <> ALL($2::bigint[]) ORDER BY log_id LIMIT $1
     )
     ${BATCH_SELECT}`;

/**
 * Up to `limit` of the oldest unpublished changes, in publishing order. With `published`,
 * the same statement first forgets those changes and records the stream position, as
 * `markPublished` does: one round trip a pass instead of two, and still recorded before
 * the next batch is sent. The read shares the statement's snapshot, in which the deleted
 * rows are still visible, so it leaves them out by id.
 */
export async function readBatch(client: pg.ClientBase, limit: number, published?: Published): Promise<LoggedChange[]> {
  const { rows } = await client.query<{
    log_id: string;
    op: ChangeOp;
    grant_id: string;
    version: string;
    row: Record<string, unknown> | null;
    previous: Record<string, unknown> | null;
    changed_at: Date;
  }>(
    published === undefined ? READ_SQL : RECORD_AND_READ_SQL,
    published === undefined ? [limit] : [limit, published.logIds, published.streamSeq],
  );
  return rows.map((r) => ({
    logId: r.log_id,
    op: r.op,
    grantId: r.grant_id,
    version: Number(r.version),
    row: r.row,
    previous: r.previous,
    changedAt: r.changed_at,
  }));
}

export async function readState(client: pg.ClientBase): Promise<RelayState> {
  const { rows } = await client.query<{ epoch: string; stream_seq: string }>('SELECT epoch, stream_seq FROM relay_state');
  const row = rows[0];
  if (!row) throw new Error('relay_state is empty: run the migrations');
  return { epoch: row.epoch, streamSeq: Number(row.stream_seq) };
}

/** Deletes published changes and records the stream position, in one statement. */
export async function markPublished(client: pg.ClientBase, logIds: readonly string[], streamSeq: number): Promise<void> {
  await client.query(
    `WITH published AS (DELETE FROM grant_changes WHERE log_id = ANY($1::bigint[]))
     UPDATE relay_state SET stream_seq = $2, published_at = now()`,
    [logIds, streamSeq],
  );
}

/** Tells writers whether to send NOTIFY (idle) or not (busy: the relay polls). */
export async function setRelayIdle(client: pg.ClientBase, idle: boolean): Promise<void> {
  // And that this relay reads an update's `previous` with only the fields it changed
  // (migration 006: until a relay says so, the trigger logs all nine for an older one).
  await client.query('UPDATE capture_wakeup SET relay_idle = $1, previous_changed_only = true', [idle]);
}

/**
 * The first transaction id not yet assigned. Called after `setRelayIdle(true)` committed:
 * every writer that could still have read "busy" had its id by then (it locked or wrote
 * its grants row before its trigger read the flag), so its id is below this horizon.
 */
export async function currentXmax(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  return rows[0]!.xmax;
}

/** True once every transaction below `xid` has ended (committed or rolled back). */
export async function horizonPassed(client: pg.ClientBase, xid: string): Promise<boolean> {
  const { rows } = await client.query<{ passed: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS passed', [xid]);
  return rows[0]!.passed;
}

/**
 * After a restore (or a point-in-time recovery) of the database: a new epoch, so that the
 * log ids the restored database hands out again are never mistaken for the ones already in
 * the stream, and a recorded position above every `seq` ever issued (docs/capture.md).
 */
export const RENUMBER_SQL = 'UPDATE public.relay_state SET epoch = pg_catalog.gen_random_uuid(), stream_seq = $1, published_at = NULL';
