/**
 * The alert rules of deploy/prometheus/rules/ (every file there, whoever added it): valid
 * for promtool, covered by the unit tests of deploy/prometheus/tests/ (every file there),
 * each with a runbook link to a section of docs/operations.md that exists. promtool comes
 * from Debian's `prometheus` package (scripts/test.sh installs it when missing).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { alertNames, operationsAnchors, ruleFiles, runbookUrls, testFiles } from './prometheus.js';

function promtool(args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('prometheus rules', () => {
  it('prometheus rules - every rule file passes promtool check rules', () => {
    const files = ruleFiles();
    expect(files.length).toBeGreaterThanOrEqual(7);
    const result = promtool(['check', 'rules', ...files]);
    expect(result.ok, result.output).toBe(true);
  });

  it('prometheus rules - every unit test file passes promtool test rules', () => {
    const files = testFiles();
    expect(files.length).toBeGreaterThanOrEqual(7);
    const result = promtool(['test', 'rules', ...files]);
    expect(result.ok, result.output).toBe(true);
  });

  it('prometheus rules - every alert has a unit test and a runbook section in docs/operations.md', () => {
    const tested = new Set(testFiles().flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/alertname:\s*(\S+)/g)].map((m) => m[1]!)));
    const anchors = operationsAnchors();
    const alerts = alertNames();
    expect(alerts.length).toBeGreaterThanOrEqual(15);
    for (const { alert, runbook } of runbookUrls()) {
      expect(tested.has(alert), `${alert} has a promtool test`).toBe(true);
      expect(runbook, `${alert} has a runbook_url`).toMatch(/^docs\/operations\.md#/);
      expect(anchors.has(runbook!.split('#')[1]!), `${runbook} is a section of docs/operations.md`).toBe(true);
    }
  });
});
