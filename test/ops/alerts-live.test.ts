/**
 * The alert rules and the dashboard against a real Prometheus (Debian's package) scraping
 * a running stack, each role in a process of its own, with the rules of
 * deploy/prometheus/rules/ loaded and every `for:` shortened to 2 s:
 * - stopping the relay fires NoRelayLeader, starting it again resolves it;
 * - a scraper publishing `blocked` on `scrape.status.<source>` fires ScraperBlocked for
 *   that source, and `ok` resolves it;
 * - every query of every panel of deploy/grafana/dashboards/ returns series (a query on a
 *   metric that does not exist returns none, and the check says so).
 * Private ports only; Prometheus is stopped at the end. Every wait is bounded.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from '../gateway/harness.js';
import { PrivatePrometheus, ROOT } from './prometheus.js';
import { ROLES, startOpsStack, type OpsStack } from './stack.js';

let stack: OpsStack;
let prometheus: PrivatePrometheus;
let nc: NatsConnection;

/** Alerts fire within this: two scrapes, the 2 s `for:` and two evaluations, with room for a loaded machine. */
const ALERT_WAIT = { timeout: 30_000, interval: 250 };

beforeAll(async () => {
  stack = await startOpsStack();
  nc = await connect({ servers: stack.nats.url });
  prometheus = await PrivatePrometheus.start(
    ROLES.map((role) => ({ job: `navimpact-${role}`, port: stack.ports[role] })),
    stack.monitor,
  );
  await prometheus.allUp(ROLES.length);
}, 180_000);

afterAll(async () => {
  await nc?.close();
  await prometheus?.stop();
  await stack?.close();
});

const firingNames = async () => (await prometheus.firing()).map((a) => a.name);

/** Traffic so that every panel has something to show: REST reads, a refused token, changes, a scrape record. */
async function traffic(): Promise<void> {
  const viewer = await token({ sub: 'dash' });
  const { rows } = await stack.sql(`INSERT INTO grants (title, status) SELECT 'Dashboard ' || g, 'open' FROM generate_series(1, 5) g RETURNING id`);
  for (const { id } of rows as { id: string }[]) {
    await stack.get('gateway', `/v1/grants/${id}`, viewer);
    await stack.get('gateway', `/v1/grants/${id}`, viewer);
  }
  await stack.get('gateway', '/v1/grants?limit=2', viewer);
  await stack.get('gateway', '/v1/grants', 'not-a-token');
  const js = nc.jetstream();
  await js.publish('scrape.grants.dashboard', new TextEncoder().encode(JSON.stringify({ externalId: 'd-1', title: 'From a scraper' })));
  await js.publish('scrape.grants.dashboard', new TextEncoder().encode(JSON.stringify({ externalId: 'd-2' })));
}

function status(source: string, state: string): void {
  nc.publish(`scrape.status.${source}`, JSON.stringify({ state, at: new Date().toISOString() }));
}

/** Every `expr` of every panel of every dashboard, with Grafana's variables filled in. */
function panelQueries(): { dashboard: string; panel: string; expr: string }[] {
  const dir = join(ROOT, 'deploy/grafana/dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((file) => {
      const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { panels: { title: string; targets?: { expr: string }[]; panels?: unknown[] }[] };
      return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ dashboard: file, panel: p.title, expr: t.expr.replaceAll('$__rate_interval', '30s') })));
    });
}

describe('alerts and dashboard on a live Prometheus', () => {
  it('alerts - stopping the relay fires NoRelayLeader, starting it resolves it', async () => {
    await expect.poll(firingNames, ALERT_WAIT).not.toContain('NoRelayLeader');
    await stack.stop('relay');
    await expect.poll(firingNames, ALERT_WAIT).toContain('NoRelayLeader');
    await stack.start('relay');
    await expect.poll(firingNames, ALERT_WAIT).not.toContain('NoRelayLeader');
  }, 120_000);

  it('alerts - a scraper that publishes blocked fires ScraperBlocked for its source; ok resolves it', async () => {
    status('alerting-site', 'ok');
    status('quiet-site', 'ok');
    await expect.poll(async () => (await prometheus.query('navimpact_scraper_state{source="alerting-site",state="ok"}')).length, ALERT_WAIT).toBe(1);
    status('alerting-site', 'blocked');
    await expect
      .poll(async () => (await prometheus.firing()).filter((a) => a.name === 'ScraperBlocked').map((a) => a.labels.source), ALERT_WAIT)
      .toEqual(['alerting-site']);

    // While it fires: every panel of the dashboard has series, the alerts panel included.
    await traffic();
    await expect.poll(async () => (await prometheus.query('sum(navimpact_ingest_records_total)'))[0]?.value[1], ALERT_WAIT).toBe('2');
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThanOrEqual(20);
    await expect
      .poll(async () => {
        const empty: string[] = [];
        for (const q of queries) if ((await prometheus.query(q.expr)).length === 0) empty.push(`${q.dashboard} "${q.panel}": ${q.expr}`);
        return empty;
      }, { timeout: 30_000, interval: 1_000 })
      .toEqual([]);
    // The check can fail: the same query on a metric that does not exist returns no series.
    expect(await prometheus.query(queries[0]!.expr.replace(/navimpact_\w+|ALERTS/, 'navimpact_no_such_metric'))).toEqual([]);

    status('alerting-site', 'ok');
    await expect.poll(async () => (await prometheus.firing()).filter((a) => a.name === 'ScraperBlocked').length, ALERT_WAIT).toBe(0);
  }, 120_000);
});
