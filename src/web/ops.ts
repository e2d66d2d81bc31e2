/**
 * The ops page (`/ops`, a monitor or admin token; docs/web.md): connections every second
 * from the `metrics` topic (charted with messages/s over the last 15 minutes), and every
 * POLL_MS the gateway's `/metrics` (messages/s, auth failures by reason, slow disconnects,
 * relay lag, pool use, ingest by result) and `/health` with details (every check, each
 * scraper's state and last success). Test hooks: `#m-connections[data-value]`,
 * `#scrapers tr[data-source]` with `data-state`.
 */
import './styles.css';
import { formatCount, formatTime } from './format.js';
import { Indicator } from './indicator.js';
import { SeriesChart } from './ops-charts.js';
import { byLabel, parsePrometheus, total } from './prometheus.js';
import { pageClient, showNoToken } from './session.js';
import type { TokenSource } from './token.js';

const POLL_MS = 2_000;
const $ = (id: string) => document.getElementById(id)!;

interface SourceHealth {
  state: string;
  lastOkAt: string | null;
  detail?: string;
}

function setTile(id: string, value: number | undefined, text?: string): void {
  const el = $(id);
  el.dataset.value = value === undefined ? '' : String(value);
  el.textContent = text ?? (value === undefined ? '–' : formatCount(value));
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function rows(tbodyOf: string, items: [string, HTMLTableCellElement[], Record<string, string>][]): void {
  const body = (document.getElementById(tbodyOf) as HTMLTableElement).tBodies[0]!;
  body.replaceChildren(
    ...items.map(([head, cells, data]) => {
      const tr = document.createElement('tr');
      Object.assign(tr.dataset, data);
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = head;
      tr.append(th, ...cells);
      return tr;
    }),
  );
}

function main(): void {
  const connection = $('connection');
  let tokens: TokenSource | undefined;
  const client = pageClient('ops', (source) => (tokens = source));
  if (!client) return showNoToken(connection);
  const indicator = new Indicator(connection, client);
  client.on('error', (err) => {
    if (err.code === 'forbidden') indicator.stopped('this page needs a monitor or admin token');
    else if (err.code.startsWith('token_')) indicator.stopped('the token expired: open the page with a new one');
  });
  const connections = new SeriesChart($('c-connections'), 'Connections', '#0b5cad');
  const rate = new SeriesChart($('c-rate'), 'Messages/s', '#116329');
  client.on('metrics', (m) => {
    indicator.touched();
    setTile('m-connections', m.connections);
    connections.add(Date.parse(m.at) / 1000, m.connections);
  });
  client.subscribe('metrics');
  void client.connect();

  let lastSent: { at: number; value: number } | undefined;
  const poll = async () => {
    const token = await tokens?.current().catch(() => undefined);
    if (!token) return;
    const headers = { authorization: `Bearer ${token}` };
    const [metrics, health] = await Promise.all([fetch('/metrics', { headers }), fetch('/health', { headers })]);
    if (metrics.ok) showMetrics(parsePrometheus(await metrics.text()));
    showHealth((await health.json()) as { status: string; checks: Record<string, Record<string, unknown> & { status: string }> });
  };
  const showMetrics = (samples: ReturnType<typeof parsePrometheus>) => {
    const sent = total(samples, 'navimpact_ws_messages_sent_total');
    const now = Date.now();
    if (sent !== undefined && lastSent) {
      const perSecond = Math.max(0, (sent - lastSent.value) / ((now - lastSent.at) / 1000));
      setTile('m-rate', perSecond, perSecond.toFixed(1));
      rate.add(now / 1000, perSecond);
    }
    if (sent !== undefined) lastSent = { at: now, value: sent };
    setTile('m-slow', total(samples, 'navimpact_ws_slow_disconnects_total'));
    const lag = total(samples, 'navimpact_relay_lag_seconds');
    setTile('m-lag', lag, lag === undefined ? '–' : `${lag.toFixed(2)} s`);
    const pool = byLabel(samples, 'navimpact_db_pool_connections', 'state');
    setTile('m-pool', pool.in_use, pool.in_use === undefined ? '–' : `${pool.in_use} / ${pool.max ?? '?'}`);
    const counters: [string, HTMLTableCellElement[], Record<string, string>][] = [];
    for (const [series, label, name] of [
      ['navimpact_ws_auth_failures_total', 'reason', 'Auth failures'],
      ['navimpact_ingest_records_total', 'result', 'Ingest records'],
    ] as const) {
      for (const [value, n] of Object.entries(byLabel(samples, series, label))) counters.push([name, [cell(value), cell(formatCount(n), 'num')], { series, label: value }]);
    }
    rows('counters', counters);
  };
  const showHealth = (report: { status: string; checks: Record<string, Record<string, unknown> & { status: string }> }) => {
    $('health-status').textContent = `(${report.status})`;
    rows(
      'health',
      Object.entries(report.checks).map(([name, check]) => {
        const { status, ...rest } = check;
        delete rest.sources;
        return [name, [cell(status, `state-${status}`), cell(Object.keys(rest).length ? JSON.stringify(rest) : '')], { check: name }];
      }),
    );
    // Relay lag is a series of the relay's process; a gateway without the relay shows its backlog check instead.
    const oldest = report.checks.relay?.oldestPendingSeconds;
    if ($('m-lag').dataset.value === '' && typeof oldest === 'number') $('m-lag').textContent = `${oldest.toFixed(2)} s (backlog)`;
    const sources = (report.checks.scrapers?.sources ?? {}) as Record<string, SourceHealth>;
    rows(
      'scrapers',
      Object.entries(sources).map(([name, s]) => [
        name,
        [cell(s.state, `state-${s.state}`), cell(s.lastOkAt ? `${new Date(s.lastOkAt).toLocaleDateString('en-AU')} ${formatTime(new Date(s.lastOkAt))}` : 'never'), cell(s.detail ?? '')],
        { source: name, state: s.state },
      ]),
    );
  };
  const loop = () => void poll().catch(() => undefined).finally(() => setTimeout(loop, POLL_MS));
  loop();
}

main();
