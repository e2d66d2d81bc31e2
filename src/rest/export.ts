/**
 * `GET /v1/exports/victoria.csv` (CONTRACT section 6): the Victorian compliance export.
 *
 * The export holds every grant that is Victorian, by location (`VIC`) or by having an
 * outcome domain. Each row is checked against the rules below before anything is sent; if
 * one fails, the answer is 422 `export_invalid` naming every failing id and why, never a
 * file with the row left out or a wrong value in it (the original system's failure 9).
 *
 * Rules: an outcome domain from the enumeration (VIC_OUTCOME_DOMAINS: the database's lookup
 * table may hold values added by hand, which the export refuses); a title and an agency;
 * amounts, when present, as numbers with min <= max; dates as YYYY-MM-DD with close on or
 * after open.
 *
 * The CSV is RFC 4180 (CRLF, fields quoted when needed, quotes doubled). A text field that
 * starts with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'` so that a
 * spreadsheet does not run it as a formula (OWASP CSV injection).
 */
import type pg from 'pg';
import { z } from 'zod';
import { GRANT_STATUSES, IsoDate, VicOutcomeDomain } from '../domain/grant.js';
import { HttpErrorCode } from '../domain/codes.js';
import { HttpError } from '../http/errors.js';
import type { Reply } from '../http/request.js';

const amount = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a non-negative amount')
  .transform(Number)
  .nullable();

export const VicExportRow = z
  .object({
    id: z.string(),
    external_id: z.string(),
    title: z.string().trim().min(1, 'title is required'),
    agency: z.string({ error: 'agency is required' }).trim().min(1, 'agency is required'),
    status: z.enum(GRANT_STATUSES),
    min_amount: amount,
    max_amount: amount,
    open_date: IsoDate.nullable(),
    close_date: IsoDate.nullable(),
    vic_outcome_domain: VicOutcomeDomain,
    url: z.string().nullable(),
  })
  .refine((r) => r.min_amount === null || r.max_amount === null || r.min_amount <= r.max_amount, { message: 'min_amount is above max_amount', path: ['min_amount'] })
  .refine((r) => r.open_date === null || r.close_date === null || r.open_date <= r.close_date, { message: 'close_date is before open_date', path: ['close_date'] });

export const EXPORT_COLUMNS = ['id', 'external_id', 'title', 'agency', 'status', 'min_amount', 'max_amount', 'open_date', 'close_date', 'vic_outcome_domain', 'url'] as const;
const TEXT_COLUMNS = new Set(['external_id', 'title', 'agency', 'url']);

/** Most failing rows listed in a 422 answer. */
const MAX_LISTED = 100;

export function csvField(value: string | number | null, text: boolean): string {
  if (value === null) return '';
  let s = String(value);
  if (text && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function victoriaExport(pool: pg.Pool): Promise<Reply> {
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT id::text, external_id, title, agency, status, min_amount::text, max_amount::text, open_date, close_date, vic_outcome_domain, url
       FROM grants
      WHERE 'VIC' = ANY (locations) OR vic_outcome_domain IS NOT NULL
      ORDER BY id`,
  );
  const failures: { id: string; errors: { path: string; message: string }[] }[] = [];
  const lines = [EXPORT_COLUMNS.join(',')];
  for (const raw of rows) {
    const parsed = VicExportRow.safeParse(raw);
    if (!parsed.success) {
      failures.push({ id: String(raw.id), errors: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) });
      continue;
    }
    const row = parsed.data;
    lines.push(EXPORT_COLUMNS.map((c) => csvField(row[c], TEXT_COLUMNS.has(c))).join(','));
  }
  if (failures.length) {
    const ids = failures.slice(0, 10).map((f) => f.id).join(', ');
    throw new HttpError(
      422,
      HttpErrorCode.ExportInvalid,
      `${failures.length} Victorian grant(s) fail validation and nothing was exported: ${ids}${failures.length > 10 ? ', ...' : ''}`,
      { rows: failures.slice(0, MAX_LISTED), total: failures.length },
    );
  }
  return {
    body: `${lines.join('\r\n')}\r\n`,
    contentType: 'text/csv; charset=utf-8',
    headers: { 'content-disposition': 'attachment; filename="victoria.csv"', 'cache-control': 'no-store' },
  };
}
