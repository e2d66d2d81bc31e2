/**
 * The committing side of the fan-out bench: single-row UPDATEs of `grants` in Postgres at
 * a steady rate, each in its own transaction (autocommit). The commit time of each change
 * is the moment its `UPDATE ... RETURNING id, version` answered, keyed `<id>/<version>`,
 * which is what the clients read back out of the frames.
 */
import pg from 'pg';
import { now, sleep } from '../common/time.js';

export interface CommitRun {
  /** `<id>/<version>` -> commit time (ms since the epoch, sub-millisecond). */
  commits: [string, number][];
  issued: number;
  seconds: number;
}

export class Committer {
  private cursor = 0;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ids: string[],
  ) {}

  /** Seeds `rows` grants with a description the size of a real one, then opens a pool. */
  static async create(url: string, rows: number, descriptionChars: number): Promise<Committer> {
    const pool = new pg.Pool({ connectionString: url, max: 16, application_name: 'bench-gateway-committer' });
    const description = 'Funding for community organisations to deliver local programs. '.repeat(Math.ceil(descriptionChars / 64)).slice(0, descriptionChars);
    await pool.query(
      `INSERT INTO grants (source, external_id, title, description, agency, url, min_amount, max_amount, status, open_date, close_date, locations, categories, vic_outcome_domain)
       SELECT 'bench', 'b' || g, 'Bench grant ' || g, $2, 'Department of Bench Marking', 'https://example.org/grants/' || g, 1000, 50000, 'open',
              '2026-01-01', '2026-12-31', '{VIC,NSW}', '{community,health}', 'community'
       FROM generate_series(1, $1::int) g`,
      [rows, description],
    );
    const { rows: found } = await pool.query<{ id: string }>("SELECT id FROM grants WHERE source = 'bench' ORDER BY external_id");
    return new Committer(
      pool,
      found.map((r) => r.id),
    );
  }

  /** One change, now; resolves with its key and commit time. */
  async commitOne(): Promise<[string, number]> {
    const id = this.ids[this.cursor++ % this.ids.length]!;
    const { rows } = await this.pool.query<{ id: string; version: string }>('UPDATE grants SET title = $2 WHERE id = $1 RETURNING id, version', [id, `Bench grant update ${this.cursor}`]);
    return [`${rows[0]!.id}/${rows[0]!.version}`, now()];
  }

  /**
   * Commits at `rate` per second for `seconds`, spread evenly (checked every 2 ms). The
   * rows are used round-robin, so no two concurrent updates wait on the same row lock.
   */
  async run(rate: number, seconds: number): Promise<CommitRun> {
    const commits: [string, number][] = [];
    const pending = new Set<Promise<void>>();
    const t0 = now();
    let issued = 0;
    for (;;) {
      const elapsed = now() - t0;
      if (elapsed >= seconds * 1000) break;
      const due = Math.min(Math.floor((elapsed / 1000) * rate) + 1, Math.ceil(rate * seconds));
      while (issued < due) {
        issued++;
        const p: Promise<void> = this.commitOne().then(
          (c) => void commits.push(c),
          () => undefined,
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await sleep(2);
    }
    await Promise.all(pending);
    return { commits, issued, seconds: (now() - t0) / 1000 };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}
