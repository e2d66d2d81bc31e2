/**
 * What the capture tests share: an independent record of committed changes (the audit
 * trigger), a workload that stresses commit order, and a reader of stream GRANTS.
 *
 * The audit trigger is the ground truth. It runs in the writer's transaction, so it holds
 * exactly the changes that committed (even when a writer cannot tell, because the
 * connection broke during COMMIT), and it decides "changed nothing" on its own terms
 * (the row's JSON without the stamps), not with the capture code under test.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { connect } from 'nats';
import { expect } from 'vitest';
import { serviceFixtures } from '../support/fixtures.js';
import type { Child } from '../support/process.js';
import { ChangeEvent } from '../../src/domain/events.js';
import { GrantFromRow, type Grant } from '../../src/domain/grant.js';
import { FILTER_FIELDS } from '../../src/domain/filter.js';

/**
 * The fixtures of a capture suite: those of test/support/fixtures.ts, with the audit
 * installed in every migrated database, and relays.
 */
export function captureFixtures() {
  const fixtures = serviceFixtures({ afterMigrate: installAudit });
  return Object.assign(fixtures, {
    /** A relay process on `url` and this test's nats-server. */
    relay(url: string, extra: Record<string, string> = {}): Child {
      return fixtures.service({ DATABASE_URL: url, ROLES: 'relay', RELAY_LEADER_POLL: '250ms', ...extra });
    },
  });
}

export async function installAudit(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`
    CREATE TABLE test_audit (n bigserial PRIMARY KEY, grant_id uuid NOT NULL, version bigint NOT NULL, op text NOT NULL, snapshot jsonb);
    CREATE FUNCTION test_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'version' - 'updated_at') = (to_jsonb(OLD) - 'version' - 'updated_at') THEN
        RETURN NULL;
      END IF;
      IF TG_OP = 'DELETE' THEN
        INSERT INTO test_audit (grant_id, version, op) VALUES (OLD.id, OLD.version + 1, 'delete');
      ELSE
        INSERT INTO test_audit (grant_id, version, op, snapshot) VALUES (NEW.id, NEW.version, lower(TG_OP), to_jsonb(NEW));
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER zz_test_audit AFTER INSERT OR UPDATE OR DELETE ON grants FOR EACH ROW EXECUTE FUNCTION test_audit();`);
  await c.end();
}

export interface AuditRow {
  grant_id: string;
  version: string;
  op: string;
  snapshot: Record<string, unknown> | null;
}

export async function readAudit(url: string): Promise<AuditRow[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<AuditRow>('SELECT grant_id, version, op, snapshot FROM test_audit ORDER BY n');
  await c.end();
  return rows;
}

export interface StoredEvent {
  streamSeq: number;
  subject: string;
  event: ChangeEvent;
}

/**
 * Reads stream GRANTS from the start until `count` events arrived (then a short look for
 * extras), or fails after `timeoutMs` with what it has.
 */
export async function readStream(natsUrl: string, count: number, timeoutMs = 60_000): Promise<StoredEvent[]> {
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  try {
    // The relay announces its leadership before it has made sure of the stream: wait for it.
    const jsm = await nc.jetstreamManager();
    const deadline = Date.now() + timeoutMs;
    while (!(await jsm.streams.info('GRANTS').then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error(`stream GRANTS did not appear within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const consumer = await nc.jetstream().consumers.get('GRANTS');
    const messages = await consumer.consume();
    const out: StoredEvent[] = [];
    let extraUntil = 0;
    const timer = setTimeout(() => void messages.close(), timeoutMs);
    for await (const m of messages) {
      out.push({ streamSeq: m.seq, subject: m.subject, event: ChangeEvent.parse(m.json()) });
      if (out.length === count) {
        // Anything published twice would follow soon after; look for it briefly.
        extraUntil = Date.now() + 1_500;
        setTimeout(() => void messages.close(), 1_500);
      }
      if (extraUntil && Date.now() > extraUntil) break;
    }
    clearTimeout(timer);
    return out;
  } finally {
    await nc.close();
  }
}

/** The checks every capture test makes: stream == audit, exactly once, in order. */
export function expectExactlyOnce(events: StoredEvent[], audit: AuditRow[]): void {
  // seq is the stream position, and strictly rising.
  for (let i = 0; i < events.length; i++) {
    const { streamSeq, event, subject } = events[i]!;
    expect(event.seq, `event at stream seq ${streamSeq}`).toBe(streamSeq);
    expect(subject).toBe(`grants.changed.${event.id}`);
    if (i > 0) expect(streamSeq).toBeGreaterThan(events[i - 1]!.streamSeq);
  }
  // One event per committed change, none for rollbacks or no-op updates, none twice.
  const key = (id: string, version: number | string, op: string) => `${id}/${version}/${op}`;
  const published = events.map(({ event }) => key(event.id, event.version, event.op));
  const committed = audit.map((a) => key(a.grant_id, a.version, a.op));
  expect(new Set(published).size, 'no change published twice').toBe(published.length);
  expect([...published].sort()).toEqual([...committed].sort());
  // Each grant's events leave in version order, starting at its insert.
  const lastVersion = new Map<string, number>();
  for (const { event } of events) {
    const prev = lastVersion.get(event.id) ?? 0;
    if (event.op === 'insert') expect(event.version, `insert of ${event.id}`).toBe(1);
    else expect(event.version, `grant ${event.id} after version ${prev}`).toBe(prev + 1);
    lastVersion.set(event.id, event.op === 'delete' ? 0 : event.version);
  }
  // Each event carries the row as it was committed at that version.
  const snapshots = new Map(audit.filter((a) => a.snapshot).map((a) => [key(a.grant_id, a.version, a.op), a.snapshot!]));
  for (const { event } of events) {
    if (event.op === 'delete') {
      expect(event.grant).toBeNull();
      continue;
    }
    const snap = snapshots.get(key(event.id, event.version, event.op));
    expect(event.grant).toEqual(GrantFromRow.parse(snap));
  }
  // Each event's `previous` is the grant's filter fields at the version before it: on an
  // update those that changed, on a delete all of them, none on an insert.
  const before = new Map<string, Grant>();
  for (const { event } of events) {
    const last = before.get(event.id);
    if (event.op === 'insert') expect(event.previous, `previous of insert ${event.id}`).toBeUndefined();
    else {
      const expected = Object.fromEntries(
        FILTER_FIELDS.filter((f) => event.op === 'delete' || JSON.stringify(last![f]) !== JSON.stringify(event.grant![f])).map((f) => [f, last![f]]),
      );
      expect(event.previous, `previous of ${event.op} ${event.id} v${event.version}`).toEqual(expected);
    }
    if (event.grant) before.set(event.id, event.grant);
    else before.delete(event.id);
  }
}

export interface WorkloadOptions {
  url: string;
  writers: number;
  transactions: number;
  /** Ids every writer may update (never deleted). */
  hot: string[];
  /** Called after each committed or failed transaction, to steer faults mid-load. */
  onProgress?: (done: number) => void;
  /** Keep going through connection errors (for fault tests). */
  tolerateErrors?: boolean;
}

export interface WorkloadResult {
  committed: number;
  failed: number;
}

/** Seeds `n` grants and returns their ids. */
export async function seed(url: string, n: number): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ id: string }>(
    `INSERT INTO grants (source, external_id, title, min_amount, max_amount, locations, status)
     SELECT 'seed', 'seed-' || g, 'Seed grant ' || g, 1000, 5000, '{VIC}', 'open' FROM generate_series(1, $1) g RETURNING id`,
    [n],
  );
  await c.end();
  return rows.map((r) => r.id);
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/**
 * Concurrent writers mixing inserts, updates, deletes, multi-row statements, rollbacks and
 * no-op updates on shared hot rows, shaped so that commit order differs from both
 * sequence (log id) order and transaction-id order:
 * - "early xid": the transaction takes its id first, sleeps, then writes and commits,
 *   after younger transactions committed;
 * - "hold": the transaction writes (taking a log id), sleeps holding the row lock, then
 *   commits after later log ids committed; writers that want the same row queue behind it,
 *   including older transactions (lower ids) that then commit after younger ones.
 */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  let done = 0;
  let committed = 0;
  let failed = 0;
  const writer = async (w: number) => {
    let client: pg.Client | undefined;
    const mine: string[] = [];
    let inserted = 0;
    for (let t = 0; t < o.transactions; t++) {
      try {
        if (!client) {
          client = new pg.Client({ connectionString: o.url });
          client.on('error', () => undefined);
          await client.connect();
        }
        await oneTransaction(client, w, () => `w${w}-${inserted++}-${randomUUID().slice(0, 8)}`, mine, o.hot);
        committed++;
      } catch (err) {
        if (!o.tolerateErrors) throw err;
        failed++;
        await client?.end().catch(() => undefined);
        client = undefined;
        await new Promise((r) => setTimeout(r, 50)); // a writer backs off before reconnecting
      }
      o.onProgress?.(++done);
    }
    await client?.end().catch(() => undefined);
  };
  await Promise.all(Array.from({ length: o.writers }, (_, w) => writer(w)));
  return { committed, failed };
}

async function oneTransaction(c: pg.Client, w: number, nextExternalId: () => string, mine: string[], hot: string[]): Promise<void> {
  const r = Math.random();
  await c.query('BEGIN');
  try {
    if (r < 0.1) {
      // early xid: take the id, let younger transactions commit, then write
      await c.query('SELECT pg_current_xact_id()');
      await c.query('SELECT pg_sleep($1)', [Math.random() * 0.01]);
      await c.query("UPDATE grants SET title = 'early ' || $2 WHERE id = $1", [pick(hot), randomUUID()]);
    } else if (r < 0.2) {
      // hold: write, keep the lock while later log ids commit
      await c.query('UPDATE grants SET max_amount = max_amount + 1 WHERE id = $1', [pick(hot)]);
      await c.query('SELECT pg_sleep($1)', [Math.random() * 0.008]);
    } else if (r < 0.4) {
      // multi-row insert
      const n = 1 + Math.floor(Math.random() * 3);
      const values = Array.from({ length: n }, (_, i) => `('w${w}', $${i + 1}, 'Writer ${w} grant', 100, 900, '{NSW,VIC}')`).join(', ');
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO grants (source, external_id, title, min_amount, max_amount, locations) VALUES ${values} RETURNING id`,
        Array.from({ length: n }, nextExternalId),
      );
      mine.push(...rows.map((row) => row.id));
    } else if (r < 0.55) {
      // single-row change, sometimes of a hot row
      const id = mine.length && Math.random() < 0.5 ? pick(mine) : pick(hot);
      await c.query('UPDATE grants SET title = $2, description = $3 WHERE id = $1', [id, `Title ${randomUUID()}`, 'x'.repeat(Math.floor(Math.random() * 200))]);
    } else if (r < 0.65) {
      // multi-row update across hot rows (in id order, as careful writers do)
      const ids = [...new Set([pick(hot), pick(hot), pick(hot)])].sort();
      // An UPDATE locks rows in scan order, which is no order at all: lock them by id first.
      await c.query('SELECT 1 FROM grants WHERE id = ANY($1) ORDER BY id FOR UPDATE', [ids]);
      await c.query("UPDATE grants SET status = CASE status WHEN 'open' THEN 'closed' ELSE 'open' END WHERE id = ANY($1)", [ids]);
    } else if (r < 0.75) {
      // an update that changes nothing
      await c.query('UPDATE grants SET title = title, max_amount = max_amount WHERE id = $1', [pick(hot)]);
    } else if (r < 0.85) {
      if (mine.length) {
        const id = mine.splice(Math.floor(Math.random() * mine.length), 1)[0];
        await c.query('DELETE FROM grants WHERE id = $1', [id]);
      }
    } else {
      // rolled back: inserts and updates that never happen
      await c.query("INSERT INTO grants (source, external_id, title) VALUES ('rollback', $1, 'never')", [randomUUID()]);
      await c.query("UPDATE grants SET title = 'never' WHERE id = $1", [pick(hot)]);
      await c.query('ROLLBACK');
      return;
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
