/**
 * The rules of the dependency audit (scripts/audit.ts, run by .ci/run): an allow-list
 * entry must name an advisory, a reason and an expiry date, and an expired entry fails the
 * build whatever the network says; a high or critical advisory of a runtime dependency
 * fails it unless an entry that has not expired allows it.
 */
import { z } from 'zod';

export const AllowEntry = z.object({
  /** The advisory: a GHSA id (GHSA-xxxx-xxxx-xxxx) or the npm advisory number. */
  id: z.string().min(1),
  /** The package it concerns (for the reader; matching is by id). */
  package: z.string().min(1),
  /** Why it is acceptable for now: not reachable from our code, no fix yet, ... */
  reason: z.string().min(10, 'must say why the advisory is acceptable (10 characters at least)'),
  /** The last day the entry holds (YYYY-MM-DD); review it by then. */
  expires: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD'),
});
export const AllowList = z.object({ advisories: z.array(AllowEntry) });
export type AllowEntry = z.infer<typeof AllowEntry>;

/** One advisory as `npm audit --json` (v7+) reports it under `vulnerabilities.<pkg>.via`. */
export interface Advisory {
  id: string;
  package: string;
  severity: string;
  title: string;
  url: string;
}

/** Entries whose expiry date is before `today` (YYYY-MM-DD). */
export function expired(list: readonly AllowEntry[], today: string): AllowEntry[] {
  return list.filter((e) => e.expires < today);
}

/** The high and critical advisories of an `npm audit --json` report. */
export function severeAdvisories(report: unknown): Advisory[] {
  const vulnerabilities = (report as { vulnerabilities?: Record<string, { via?: unknown[] }> }).vulnerabilities ?? {};
  const out = new Map<string, Advisory>();
  for (const [pkg, v] of Object.entries(vulnerabilities)) {
    for (const via of v.via ?? []) {
      if (typeof via !== 'object' || via === null) continue; // a package name: the advisory is listed under it
      const a = via as { source?: number; url?: string; severity?: string; title?: string; name?: string };
      if (a.severity !== 'high' && a.severity !== 'critical') continue;
      const ghsa = /GHSA-[\w-]+/.exec(a.url ?? '')?.[0];
      const id = ghsa ?? String(a.source);
      out.set(id, { id, package: a.name ?? pkg, severity: a.severity, title: a.title ?? '', url: a.url ?? '' });
    }
  }
  return [...out.values()];
}

/** Advisories not allowed by an entry that holds today. */
export function notAllowed(advisories: readonly Advisory[], list: readonly AllowEntry[], today: string): Advisory[] {
  const allowed = new Set(list.filter((e) => e.expires >= today).map((e) => e.id));
  return advisories.filter((a) => !allowed.has(a.id) && !allowed.has(a.url));
}

/** True when `npm audit` could not reach the advisory endpoint (its JSON is an error, not a report). */
export function unreachable(report: unknown): boolean {
  const r = report as { vulnerabilities?: unknown; error?: unknown; statusCode?: unknown; message?: unknown };
  return r.vulnerabilities === undefined && (r.error !== undefined || r.statusCode !== undefined || r.message !== undefined);
}
