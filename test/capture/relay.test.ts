/**
 * Change capture end to end: real Postgres, a private nats-server, and the relay run as
 * its users run it (`src/main.ts` with ROLES=relay in a child process).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import type { TestDatabase } from '../support/postgres.js';
import { hasCode } from '../support/service.js';
import { captureFixtures, expectExactlyOnce, readAudit, readStream, runWorkload, seed } from './harness.js';

// Each test has its own nats-server and database, and kills its relays when done.
const fx = captureFixtures();
const database = () => fx.database();
const relay = (db: TestDatabase, extra: Record<string, string> = {}) => fx.relay(db.url, extra);

async function pendingChanges(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM grant_changes');
  await c.end();
  return Number(rows[0]!.n);
}

/** Runs SQL through psql, as a person at a terminal would, on `url`; its output, trimmed. */
function psqlOn(url: string): (sql: string) => string {
  return (sql) => execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]).toString().trim();
}

describe.sequential('capture', () => {
  it('capture - 20 writers x 500 transactions reach GRANTS exactly once, per-grant in version order', async () => {
    const db = await database();
    const r = relay(db);
    await r.waitFor(hasCode('RelayLeaderAcquired'));
    const hot = await seed(db.url, 5);
    const result = await runWorkload({ url: db.url, writers: 20, transactions: 500, hot });
    expect(result.committed).toBe(10_000);
    const audit = await readAudit(db.url);
    const events = await readStream(fx.nats.url, audit.length);
    expectExactlyOnce(events, audit);
    expect(await pendingChanges(db.url)).toBe(0);
    // The workload really produced what it claims to test.
    const ops = new Set(audit.map((a) => a.op));
    expect([...ops].sort()).toEqual(['delete', 'insert', 'update']);
    expect(audit.length).toBeGreaterThan(5_000);
  }, 180_000);

  it('capture - psql changes are captured like the service\'s own', async () => {
    const db = await database();
    const r = relay(db);
    await r.waitFor(hasCode('RelayLeaderAcquired'));
    const psql = psqlOn(db.url);
    const id = psql(
      "INSERT INTO grants (source, external_id, title, min_amount, max_amount, open_date, locations, vic_outcome_domain) VALUES ('psql', 'p-1', 'Typed by hand', 5000, 20000.50, '2026-03-31', '{VIC}', 'health') RETURNING id",
    ).split('\n')[0]!;
    psql(`UPDATE grants SET title = 'Edited by hand' WHERE id = '${id}'`);
    psql(`UPDATE grants SET title = 'Edited by hand' WHERE id = '${id}'`); // changes nothing
    psql(`BEGIN; UPDATE grants SET title = 'never' WHERE id = '${id}'; ROLLBACK;`);
    psql(`DELETE FROM grants WHERE id = '${id}'`);
    const events = await readStream(fx.nats.url, 3);
    expect(events.map((e) => [e.event.op, e.event.version])).toEqual([
      ['insert', 1],
      ['update', 2],
      ['delete', 3],
    ]);
    const inserted = events[0]!.event.grant!;
    expect(inserted).toMatchObject({ id, title: 'Typed by hand', minAmount: 5000, maxAmount: 20000.5, openDate: '2026-03-31', locations: ['VIC'], vicOutcomeDomain: 'health' });
    expect(events[1]!.event.grant!.title).toBe('Edited by hand');
    expect(events[2]!.event.grant).toBeNull();
    expectExactlyOnce(events, await readAudit(db.url));
  });

  it('capture - an event carries the filter fields before the change: those an update moved, all on a delete', async () => {
    const db = await database();
    const r = relay(db);
    await r.waitFor(hasCode('RelayLeaderAcquired'));
    const psql = psqlOn(db.url);
    const id = psql(
      "INSERT INTO grants (source, external_id, title, description, max_amount, close_date, locations) VALUES ('psql', 'p-2', 'Before', 'Long text', 20000, '2026-06-30', '{VIC}') RETURNING id",
    ).split('\n')[0]!;
    psql(`UPDATE grants SET max_amount = 25000, status = 'closed', locations = '{VIC,NSW}' WHERE id = '${id}'`);
    psql(`UPDATE grants SET url = 'https://example.org/g', min_amount = 100 WHERE id = '${id}'`); // no filter field
    psql(`UPDATE grants SET description = NULL, agency = 'Agency' WHERE id = '${id}'`); // to and from null
    psql(`UPDATE grants SET max_amount = 25000.00, title = 'After' WHERE id = '${id}'`); // same amount, other scale
    psql(`DELETE FROM grants WHERE id = '${id}'`);
    const events = await readStream(fx.nats.url, 6);
    expect(events.map((e) => e.event.previous)).toEqual([
      undefined,
      { maxAmount: 20000, status: 'open', locations: ['VIC'] },
      {},
      { description: 'Long text', agency: null },
      { title: 'Before' },
      { source: 'psql', title: 'After', description: null, agency: 'Agency', maxAmount: 25000, closeDate: '2026-06-30', status: 'closed', locations: ['VIC', 'NSW'], vicOutcomeDomain: null },
    ]);
    expectExactlyOnce(events, await readAudit(db.url));
  });

  it('capture - a writer that saw the relay busy and commits after it turned idle is published at once', async () => {
    // With the safety poll an hour away, a lost wake-up would leave this change unpublished.
    const db = await database();
    const r = relay(db, { LOG_LEVEL: 'debug', RELAY_SAFETY_POLL: '1h' });
    const count = (code: string) => r.lines.filter(hasCode(code)).length;
    const idleNow = () => {
      const last = r.lines.findLast((l) => hasCode('RelayIdle')(l) || hasCode('RelayBusy')(l));
      return last !== undefined && hasCode('RelayIdle')(last);
    };
    const [id] = await seed(db.url, 1);
    const writer = new pg.Client({ connectionString: db.url });
    writer.on('error', () => undefined);
    await writer.connect();
    let exercised = false;
    let expected = 1;
    for (let attempt = 0; attempt < 5 && !exercised; attempt++) {
      await r.waitFor(idleNow, 30_000, 'relay idle');
      const busy = count('RelayBusy');
      // Wake the relay, and write while it is busy (its writers send no NOTIFY then).
      await writer.query("UPDATE grants SET title = 'wake ' || $2 WHERE id = $1", [id, attempt]);
      expected++;
      await r.waitFor(() => count('RelayBusy') > busy, 30_000, 'relay busy');
      const idle = count('RelayIdle');
      await writer.query('BEGIN');
      await writer.query("UPDATE grants SET title = 'late ' || $2 WHERE id = $1", [id, attempt]);
      const { rows } = await writer.query<{ relay_idle: boolean }>('SELECT relay_idle FROM capture_wakeup');
      exercised = rows[0]!.relay_idle === false;
      // Commit only after the relay turned idle.
      await r.waitFor(() => count('RelayIdle') > idle, 30_000, 'relay idle');
      await writer.query('COMMIT');
      expected++;
    }
    await writer.end();
    expect(exercised, 'the writer read "busy" at least once').toBe(true);
    const events = await readStream(fx.nats.url, expected, 20_000);
    expect(events.map((e) => e.event.version)).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
  });

  it('capture - two relays: one publishes, the other takes over within 5 s of a SIGKILL', async () => {
    const db = await database();
    const a = relay(db);
    await a.waitFor(hasCode('RelayLeaderAcquired'));
    const b = relay(db);
    await b.waitFor(hasCode('RelayStandby'));
    const hot = await seed(db.url, 5);
    let killedAt = 0;
    let killing: Promise<void> | undefined;
    const load = runWorkload({
      url: db.url,
      writers: 10,
      transactions: 300,
      hot,
      onProgress: (done) => {
        if (done === 1_000) {
          killedAt = Date.now();
          killing = a.kill('SIGKILL');
        }
      },
    });
    await b.waitFor(hasCode('RelayLeaderAcquired'), 10_000, 'standby to take over');
    const takeover = Date.now() - killedAt;
    await killing;
    await load;
    expect(killedAt).toBeGreaterThan(0);
    expect(takeover).toBeLessThan(5_000);
    // Before the kill, only a published; b never acquired twice.
    expect(b.lines.filter(hasCode('RelayLeaderAcquired'))).toHaveLength(1);
    const audit = await readAudit(db.url);
    expectExactlyOnce(await readStream(fx.nats.url, audit.length), audit);
    console.info(`relay fail-over took ${takeover} ms`);
  }, 120_000);
});
