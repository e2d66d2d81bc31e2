/**
 * What the ops tests read of deploy/prometheus/ and deploy/grafana/, and a real Prometheus
 * (Debian's package) for the live tests: a private server on a free port with a store of
 * its own, scraping given targets with the rules loaded, evaluating every second.
 */
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort } from '../support/ports.js';
import { start, type Child } from '../support/process.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = join(ROOT, 'deploy/prometheus/rules');
const TESTS = join(ROOT, 'deploy/prometheus/tests');

export function ruleFiles(): string[] {
  return readdirSync(RULES)
    .filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'))
    .sort()
    .map((f) => join(RULES, f));
}

export function testFiles(): string[] {
  return readdirSync(TESTS)
    .filter((f) => f.endsWith('.test.yml') || f.endsWith('.test.yaml'))
    .sort()
    .map((f) => join(TESTS, f));
}

interface Rule {
  alert?: string;
  record?: string;
  for?: string;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; interval?: string; rules: Rule[] }[];
}

function rules(): Rule[] {
  return ruleFiles().flatMap((f) => (parse(readFileSync(f, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules));
}

export function alertNames(): string[] {
  return rules().flatMap((r) => (r.alert ? [r.alert] : []));
}

export function runbookUrls(): { alert: string; runbook: string | undefined }[] {
  return rules().flatMap((r) => (r.alert ? [{ alert: r.alert, runbook: r.annotations?.runbook_url }] : []));
}

/** The anchors of docs/operations.md's headings, as GitHub makes them. */
export function operationsAnchors(): Set<string> {
  const text = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  return new Set(
    [...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  );
}

export interface Target {
  job: string;
  port: number;
}

/**
 * A private Prometheus scraping `targets` every second with `bearer`, the rules of
 * deploy/prometheus/rules/ loaded with every `for:` shortened to `forWindow` and evaluated
 * every second. Stops by itself with `stop`.
 */
export class PrivatePrometheus {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: Child,
  ) {}

  static async start(targets: readonly Target[], bearer: string, forWindow = '2s'): Promise<PrivatePrometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'navimpact-prometheus-'));
    const ruleCopies = ruleFiles().map((file, i) => {
      const parsed = parse(readFileSync(file, 'utf8')) as RuleFile;
      for (const group of parsed.groups) for (const rule of group.rules) if (rule.for !== undefined) rule.for = forWindow;
      const copy = join(dir, `rules-${i}.yml`);
      writeFileSync(copy, stringify(parsed));
      return copy;
    });
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: ruleCopies,
      scrape_configs: [...new Set(targets.map((t) => t.job))].map((job) => ({
        job_name: job,
        authorization: { type: 'Bearer', credentials: bearer },
        static_configs: [{ targets: targets.filter((t) => t.job === job).map((t) => `127.0.0.1:${t.port}`) }],
      })),
    };
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const child = start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ]);
    const server = new PrivatePrometheus(port, dir, child);
    await server.ready();
    return server;
  }

  private async ready(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) return;
      } catch {
        /* not listening yet */
      }
      if (!this.child.running) throw new Error(`prometheus exited:\n${this.child.lines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s:\n${this.child.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** An instant query; the result vector. */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
    return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
  }

  /** Alerts in state `firing`, by name, with their labels. */
  async firing(): Promise<{ name: string; labels: Record<string, string> }[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
    return body.data.alerts.filter((a) => a.state === 'firing').map((a) => ({ name: a.labels.alertname!, labels: a.labels }));
  }

  /** Resolves once every target is up; throws after `timeoutMs`. */
  async allUp(count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const targets = await this.targets();
      if (targets.filter((t) => t.health === 'up').length === count) return;
      if (Date.now() > deadline) throw new Error(`targets not all up after ${timeoutMs} ms: ${JSON.stringify(targets)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Targets' health, by job. */
  async targets(): Promise<{ job: string; health: string }[]> {
    const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; health: string }[] } };
    return body.data.activeTargets.map((t) => ({ job: t.labels.job, health: t.health }));
  }

  async stop(): Promise<void> {
    await this.child.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
