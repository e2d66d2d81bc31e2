/**
 * The committing side of the views bench: seeds a database with the catalogue
 * (corpus.ts), then commits single-row UPDATEs (changes.ts) at a steady rate, each in its
 * own transaction. The changes are planned (decided, with the grant before and after) ahead
 * of each measured window, so the orchestrator can say how many frames each filtered view
 * should receive without working during the window. As in the gateway bench
 * (bench/gateway/commits.ts), a change's commit time is when its `UPDATE ... RETURNING id,
 * version` answered, keyed `<id>/<version>`.
 *
 * Rows are taken in a seeded random order that visits every row before any row twice: with
 * thousands of rows and a few dozen commits in flight, no two concurrent UPDATEs touch the
 * same row, so each change's "before" is exactly the row the database changed.
 */
import pg from 'pg';
import { paced } from '../common/paced.js';
import { now } from '../common/time.js';
import type { CommitRun } from '../gateway/commits.js';
import { COLUMNS, edit, type Column, type EditKind } from './changes.js';
import { Dice, type BenchGrant } from './corpus.js';

/** One change of the sequence: which row, and the grant before and after it. */
export interface Planned {
  index: number;
  kind: EditKind;
  before: BenchGrant;
  after: BenchGrant;
  columns: Column[];
}

const CAST: Record<Column, string> = { status: 'text', close_date: 'date', max_amount: 'numeric', min_amount: 'numeric', locations: 'text[]', title: 'text', description: 'text', vic_outcome_domain: 'text' };
const BATCH = 1_000;

export class ViewsCommitter {
  private cursor = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ids: string[],
    private readonly grants: BenchGrant[],
    private readonly dice: Dice,
    private readonly order: number[],
  ) {}

  /** Inserts `grants` into the database at `url` (before it is copied for the other phase). */
  static async seed(url: string, grants: readonly BenchGrant[]): Promise<void> {
    const client = new pg.Client({ connectionString: url, application_name: 'bench-views-seed' });
    await client.connect();
    try {
      for (let i = 0; i < grants.length; i += BATCH) {
        const rows = grants.slice(i, i + BATCH);
        const col = <T>(f: (g: BenchGrant) => T) => rows.map(f);
        await client.query(
          `INSERT INTO grants (source, external_id, title, description, agency, url, min_amount, max_amount, open_date, close_date, status, categories, locations, vic_outcome_domain)
           SELECT s, e, t, d, a, u, mi, ma, od, cd, st, string_to_array(ca, ','), string_to_array(lo, ','), vd
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::numeric[], $9::date[], $10::date[], $11::text[], $12::text[], $13::text[], $14::text[])
             AS x(s, e, t, d, a, u, mi, ma, od, cd, st, ca, lo, vd)`,
          [
            col((g) => g.source),
            col((g) => g.externalId),
            col((g) => g.title),
            col((g) => g.description),
            col((g) => g.agency),
            col((g) => g.url),
            col((g) => g.minAmount),
            col((g) => g.maxAmount),
            col((g) => g.openDate),
            col((g) => g.closeDate),
            col((g) => g.status),
            col((g) => g.categories.join(',')),
            col((g) => g.locations.join(',')),
            col((g) => g.vicOutcomeDomain),
          ],
        );
      }
    } finally {
      await client.end();
    }
  }

  /** A committer on the seeded database at `url`, holding its own copy of `grants` (kept current). */
  static async open(url: string, grants: readonly BenchGrant[], seed: number): Promise<ViewsCommitter> {
    const pool = new pg.Pool({ connectionString: url, max: 16, application_name: 'bench-views-committer' });
    const { rows } = await pool.query<{ id: string; external_id: string }>('SELECT id, external_id FROM grants');
    const byExternal = new Map(rows.map((r) => [r.external_id, r.id]));
    const ids = grants.map((g) => byExternal.get(g.externalId)!);
    const dice = new Dice(seed);
    // Fisher-Yates: a seeded order of the rows.
    const order = grants.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = dice.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return new ViewsCommitter(pool, ids, [...grants], dice, order);
  }

  /**
   * The next `count` changes of the seeded sequence, decided now and committed by `run`:
   * the orchestrator works out what each view should receive before the measured window.
   */
  plan(count: number): Planned[] {
    return Array.from({ length: count }, () => {
      const index = this.order[this.cursor++ % this.order.length]!;
      const before = this.grants[index]!;
      const e = edit(this.dice, before);
      // The model moves on now: the next change of this row is thousands of changes away
      // (see the module comment), long after this one has committed.
      this.grants[index] = e.after;
      return { index, kind: e.kind, before, after: e.after, columns: e.columns };
    });
  }

  /** Commits one planned change; resolves with its key and commit time. */
  async commit(p: Planned): Promise<[string, number]> {
    const set = p.columns.map((c, i) => `${c} = $${i + 2}::${CAST[c]}`).join(', ');
    const values = p.columns.map((c) => p.after[COLUMNS[c]]);
    const { rows } = await this.pool.query<{ id: string; version: string }>(`UPDATE grants SET ${set} WHERE id = $1 RETURNING id, version`, [this.ids[p.index], ...values]);
    if (!rows[0]) throw new Error(`grant ${this.ids[p.index]} is gone`);
    return [`${rows[0].id}/${rows[0].version}`, now()];
  }

  /** Commits `planned` at `rate` per second; the run as the gateway bench reports it. */
  async run(rate: number, planned: readonly Planned[]): Promise<CommitRun & { failed: number }> {
    const r = await paced(rate, planned.length, (i) => this.commit(planned[i]!));
    return { commits: r.results, issued: planned.length, seconds: r.issueSeconds, failed: r.failed };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}
