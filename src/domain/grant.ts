/**
 * The Grant (CONTRACT section 7) and its enumerations, defined once. The database
 * migrations, the row mapping, the API and the tests all take their values from here.
 *
 * A Grant leaves the service with amounts as JSON numbers (never strings), dates as
 * `YYYY-MM-DD` and `updatedAt` as ISO 8601, whatever the row came from: a `pg` result
 * (numeric arrives as text) or `row_to_json` in the change log (numeric arrives as a
 * JSON number).
 */
import { z } from 'zod';

export const GRANT_STATUSES = ['draft', 'upcoming', 'open', 'closed'] as const;
export const GrantStatus = z.enum(GRANT_STATUSES);
export type GrantStatus = z.infer<typeof GrantStatus>;

/** Australian state and territory codes, plus `national`. */
export const LOCATIONS = ['ACT', 'NSW', 'NT', 'QLD', 'SA', 'TAS', 'VIC', 'WA', 'national'] as const;
export const Location = z.enum(LOCATIONS);
export type Location = z.infer<typeof Location>;

/**
 * The Victorian outcome-domain enumeration used by the compliance export. Adding a value
 * here and running `npm run migrate` is all it takes: migrations keep the database's
 * lookup table equal to this list.
 */
export const VIC_OUTCOME_DOMAINS = ['education', 'health', 'community'] as const;
export const VicOutcomeDomain = z.enum(VIC_OUTCOME_DOMAINS);
export type VicOutcomeDomain = z.infer<typeof VicOutcomeDomain>;

/** A grant id: any UUID Postgres accepts (`psql` may write `1111...-1111`, not an RFC 4122 variant). */
export const GrantId = z.guid();

/** Largest amount `numeric(14,2)` holds. */
export const MAX_AMOUNT = 999_999_999_999.99;

export const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD');
export const Amount = z.number().finite().min(0).max(MAX_AMOUNT);

/**
 * A Grant as the service hands it out: what the database holds, whoever wrote it. Where the
 * database is looser than what ingest accepts, this schema follows the database, so that a
 * row written by another application (an empty `source`, an outcome domain added to the
 * lookup table by hand) is still served as stored rather than failing every page that
 * holds it. CONTRACT section 3 says the enumeration holds "at least" its three values.
 * Strictness lives at the edges that need it: ingest (`src/normalise/`) and the Victorian
 * export (`rest/export.ts`, which answers 422 for such a row). Ids are any UUID Postgres
 * accepts (`GrantId`).
 */
export const Grant = z.object({
  id: GrantId,
  source: z.string(),
  externalId: z.string(),
  title: z.string().min(1),
  description: z.string().nullable(),
  agency: z.string().nullable(),
  url: z.string().nullable(),
  minAmount: Amount.nullable(),
  maxAmount: Amount.nullable(),
  currency: z.string().length(3),
  openDate: IsoDate.nullable(),
  closeDate: IsoDate.nullable(),
  status: GrantStatus,
  categories: z.array(z.string()),
  locations: z.array(Location),
  /** One of VIC_OUTCOME_DOMAINS when written by the service; see above. */
  vicOutcomeDomain: z.string().min(1).nullable(),
  version: z.number().int().positive(),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type Grant = z.infer<typeof Grant>;

const numeric = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/)]).transform(Number);
const bigintish = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform(Number);
const timestamp = z.union([z.date(), z.string()]).transform((value, ctx) => {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'must be a timestamp' });
    return z.NEVER;
  }
  return date.toISOString();
});

/** A `grants` row as Postgres returns it, through `pg` or through `row_to_json`. */
export const GrantRow = z.object({
  id: GrantId,
  source: z.string(),
  external_id: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  agency: z.string().nullable(),
  url: z.string().nullable(),
  min_amount: numeric.nullable(),
  max_amount: numeric.nullable(),
  currency: z.string().transform((s) => s.trim()),
  open_date: IsoDate.nullable(),
  close_date: IsoDate.nullable(),
  status: GrantStatus,
  categories: z.array(z.string()).nullable(),
  locations: z.array(Location).nullable(),
  vic_outcome_domain: z.string().min(1).nullable(),
  version: bigintish,
  updated_at: timestamp,
});
export type GrantRow = z.input<typeof GrantRow>;

/** Maps a database row to the API's Grant. */
export const GrantFromRow = GrantRow.transform(
  (row): Grant => ({
    id: row.id,
    source: row.source,
    externalId: row.external_id,
    title: row.title,
    description: row.description,
    agency: row.agency,
    url: row.url,
    minAmount: row.min_amount,
    maxAmount: row.max_amount,
    currency: row.currency,
    openDate: row.open_date,
    closeDate: row.close_date,
    status: row.status,
    categories: row.categories ?? [],
    locations: row.locations ?? [],
    vicOutcomeDomain: row.vic_outcome_domain,
    version: row.version,
    updatedAt: row.updated_at,
  }),
);
