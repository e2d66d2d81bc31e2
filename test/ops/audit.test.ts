/**
 * The dependency audit's rules (scripts/audit/check.ts) and the step itself
 * (scripts/audit.ts, run by scripts/test.sh from .ci/run): an expired allow-list entry
 * fails it whatever the network says; a high or critical advisory fails it unless allowed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AllowList, expired, notAllowed, severeAdvisories, unreachable } from '../../scripts/audit/check.js';
import { ROOT } from './prometheus.js';

const REPORT = {
  vulnerabilities: {
    undici: { via: [{ source: 1101, name: 'undici', severity: 'high', title: 'Request smuggling', url: 'https://github.com/advisories/GHSA-aaaa-bbbb-cccc' }] },
    jose: { via: [{ source: 1102, name: 'jose', severity: 'moderate', title: 'Resource use', url: 'https://github.com/advisories/GHSA-dddd-eeee-ffff' }] },
    cheerio: { via: ['undici'] },
  },
};

describe('audit', () => {
  it('audit - high and critical advisories fail unless an entry that has not expired allows them', () => {
    const severe = severeAdvisories(REPORT);
    expect(severe.map((a) => a.id)).toEqual(['GHSA-aaaa-bbbb-cccc']);
    expect(notAllowed(severe, [], '2026-06-01')).toHaveLength(1);
    const entry = { id: 'GHSA-aaaa-bbbb-cccc', package: 'undici', reason: 'the proxy code path is not used', expires: '2026-06-30' };
    expect(notAllowed(severe, [entry], '2026-06-01')).toEqual([]);
    expect(notAllowed(severe, [entry], '2026-07-01')).toHaveLength(1);
    expect(expired([entry], '2026-07-01')).toEqual([entry]);
    expect(expired([entry], '2026-06-30')).toEqual([]);
    expect(unreachable({ message: '405 Method Not Allowed', statusCode: 405 })).toBe(true);
    expect(unreachable(REPORT)).toBe(false);
  });

  it('audit - an entry without a reason or a date is refused', () => {
    expect(AllowList.safeParse({ advisories: [{ id: 'GHSA-x', package: 'p', reason: 'because', expires: 'soon' }] }).success).toBe(false);
    expect(AllowList.safeParse({ advisories: [{ id: 'GHSA-x', package: 'p', reason: 'not reachable from our code', expires: '2030-01-01' }] }).success).toBe(true);
  });

  it('audit - the CI step fails on an expired allow-list entry, and passes on the repository\'s own list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'navimpact-audit-'));
    try {
      const file = join(dir, 'allow.json');
      writeFileSync(file, JSON.stringify({ advisories: [{ id: 'GHSA-0000-0000-0000', package: 'example', reason: 'an entry that ran out on purpose', expires: '2020-01-31' }] }));
      let failed: { status?: number; stderr?: string } | undefined;
      try {
        execFileSync(process.execPath, ['--import', 'tsx', 'scripts/audit.ts'], { cwd: ROOT, env: { ...process.env, AUDIT_ALLOWLIST: file }, stdio: 'pipe', encoding: 'utf8' });
      } catch (err) {
        failed = err as { status?: number; stderr?: string };
      }
      expect(failed?.status).toBe(1);
      expect(failed?.stderr).toContain('GHSA-0000-0000-0000 (example) expired on 2020-01-31');
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/audit.ts'], { cwd: ROOT, stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
