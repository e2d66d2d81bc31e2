/**
 * What the ingest tests share: a private nats-server per test (stream SCRAPE is a work
 * queue, so tests never share one), migrated databases, ingest run as its users run it
 * (`src/main.ts` with ROLES=ingest in a child process), publishers that act like scrapers,
 * and readers of what ingest produced: rows, change-log entries, rejections.
 */
import pg from 'pg';
import { connect, headers, type NatsConnection } from 'nats';
import { serviceFixtures } from '../support/fixtures.js';
import type { Child } from '../support/process.js';

/** The fixtures of an ingest suite: those of test/support/fixtures.ts, and ingest processes. */
export function ingestFixtures() {
  const fixtures = serviceFixtures();
  return Object.assign(fixtures, {
    /** An ingest process on `url` and this test's nats-server. */
    ingest(url: string, extra: Record<string, string> = {}): Child {
      return fixtures.service({ DATABASE_URL: url, ROLES: 'ingest', ...extra });
    },
  });
}

export interface Outgoing {
  source: string;
  /** An object is sent as JSON; a string as it is (to send non-JSON). */
  payload: unknown;
  msgId?: string;
}

/** Publishes `records` from `publishers` concurrent connections (one scraper each), every publish acknowledged by JetStream. */
export async function publish(natsUrl: string, records: readonly Outgoing[][], window = 256): Promise<{ stored: number; duplicates: number }> {
  let stored = 0;
  let duplicates = 0;
  await Promise.all(
    records.map(async (mine) => {
      const nc = await connect({ servers: natsUrl });
      try {
        const js = nc.jetstream();
        for (let i = 0; i < mine.length; i += window) {
          const acks = await Promise.all(
            mine.slice(i, i + window).map((r) => {
              const data = typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload);
              const h = r.msgId ? headers() : undefined;
              if (h && r.msgId) h.set('Nats-Msg-Id', r.msgId);
              return js.publish(`scrape.grants.${r.source}`, data, h ? { headers: h, timeout: 30_000 } : { timeout: 30_000 });
            }),
          );
          for (const a of acks) a.duplicate ? duplicates++ : stored++;
        }
      } finally {
        await nc.close();
      }
    }),
  );
  return { stored, duplicates };
}

/** Resolves once stream SCRAPE holds nothing (every record acknowledged by ingest). */
export async function waitIngested(natsUrl: string, timeoutMs = 90_000): Promise<void> {
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1 });
  try {
    const jsm = await nc.jetstreamManager();
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    for (;;) {
      const info = await jsm.streams.info('SCRAPE').catch(() => undefined);
      last = info?.state.messages ?? -1;
      if (last === 0) return;
      if (Date.now() > deadline) throw new Error(`stream SCRAPE still holds ${last} records after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}

export interface Rejected {
  subject: string;
  record: unknown;
  errors: { path: string; message: string }[];
  truncated?: boolean;
}

/** Everything in stream SCRAPE_REJECTED. */
export async function readRejected(natsUrl: string): Promise<Rejected[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const total = (await jsm.streams.info('SCRAPE_REJECTED')).state.messages;
    const out: Rejected[] = [];
    if (total === 0) return out;
    const consumer = await nc.jetstream().consumers.get('SCRAPE_REJECTED');
    const messages = await consumer.consume();
    const timer = setTimeout(() => void messages.close(), 30_000);
    for await (const m of messages) {
      out.push({ subject: m.subject, ...(m.json() as Omit<Rejected, 'subject'>) });
      if (out.length === total) break;
    }
    clearTimeout(timer);
    return out;
  } finally {
    await nc.close();
  }
}

export async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

export async function count(url: string, sql: string): Promise<number> {
  const [row] = await query<{ n: string }>(url, sql);
  return Number(row!.n);
}

/** Polls `test` until it holds (for database state, which has no event to await). */
export async function until(test: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Samples the connections of one database opened under `application` in
 * pg_stat_activity, every `everyMs`, until stopped; reports the highest count seen.
 */
export function sampleConnections(url: string, database: string, application: string, everyMs = 25) {
  let peak = 0;
  let samples = 0;
  let running = true;
  const done = (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      while (running) {
        const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [database, application]);
        peak = Math.max(peak, Number(rows[0]!.n));
        samples++;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    } finally {
      await c.end();
    }
  })();
  return {
    async stop(): Promise<{ peak: number; samples: number }> {
      running = false;
      await done;
      return { peak, samples };
    },
  };
}

/** A valid raw record, printed the way sites print. */
export function validRecord(externalId: string, n: number): Record<string, unknown> {
  return {
    externalId,
    title: `Grant ${externalId}`,
    description: `Supports project ${n}.`,
    amount: `$${(1 + (n % 50)).toLocaleString('en-AU')},000 - $${(100 + (n % 50)).toLocaleString('en-AU')},000`,
    closeDate: `${1 + (n % 28)}/0${1 + (n % 9)}/2027`,
    locations: n % 3 === 0 ? 'Victoria' : n % 3 === 1 ? 'New South Wales, Queensland' : 'Australia-wide',
    status: n % 4 === 0 ? 'Opening soon' : 'Open',
    vicOutcomeDomain: ['education', 'health', 'community', null][n % 4],
  };
}

/** Invalid records of several kinds: each with the path its rejection must name. */
export function invalidRecord(externalId: string, n: number): { payload: unknown; path: string } {
  switch (n % 6) {
    case 0:
      return { payload: { ...validRecord(externalId, n), minAmount: 'a lot' }, path: 'minAmount' };
    case 1:
      return { payload: { ...validRecord(externalId, n), closeDate: '31/02/2027' }, path: 'closeDate' };
    case 2:
      return { payload: { externalId, description: 'no title' }, path: 'title' };
    case 3:
      return { payload: `{"externalId": "${externalId}", "title": broken json`, path: '' };
    case 4:
      return { payload: { ...validRecord(externalId, n), vicOutcomeDomain: 'Healthcare' }, path: 'vicOutcomeDomain' };
    default:
      return { payload: { ...validRecord(externalId, n), locations: 'Victoria, Atlantis' }, path: 'locations' };
  }
}

export async function natsConnect(url: string): Promise<NatsConnection> {
  return connect({ servers: url });
}
