/**
 * The raw scrape record (CONTRACT section 4) and the GrantInput it normalises into, the
 * shape ingest writes to `grants`: schemas and types only. Scrapers import `RawGrantRecord`
 * to check what they publish; the normaliser in src/normalise/ (`normaliseRecord` in
 * record.ts, run by ingest on every message) turns one into the other. The rules, and why
 * each bound is where it is, are in docs/ingest.md.
 *
 * # What a raw record is
 * The Grant's fields except `id`, `version` and `updatedAt`. `externalId` and `title` are
 * required; every other field may be absent, null, or the text the site printed
 * ("$5,000", "31/03/2026", "Victoria", "Opening soon"). One extra field, `amount`, takes
 * the amount exactly as printed ("Up to $20 million", "$5,000 - $50,000") when the site
 * shows no separate minimum and maximum. Fields not listed here are ignored (a scraper
 * may publish more than ingest stores, e.g. its own fetch time) — documented, not silent:
 * docs/ingest.md.
 */
import { z } from 'zod';
import { Amount, GrantStatus, IsoDate, Location, VicOutcomeDomain } from './grant.js';

/** Bounds of text fields, in characters after normalisation (docs/ingest.md). */
export const LIMITS = {
  source: 64,
  externalId: 200,
  title: 500,
  description: 20_000,
  agency: 500,
  url: 2_048,
  category: 100,
  categories: 50,
} as const;

/** A source name: one NATS subject token, lower case (`business-gov-au`, `grantconnect`). */
export const SOURCE_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

const printed = z.union([z.string(), z.number()]).nullish();
const printedList = z.union([z.string(), z.array(z.string())]).nullish();

/**
 * A raw grant record as published on `scrape.grants.<source>`: the types a field may
 * arrive as, before normalisation. Unknown fields are stripped (ignored).
 */
export const RawGrantRecord = z.object({
  source: z.string().nullish(),
  externalId: z.union([z.string(), z.number().int()]),
  title: z.string(),
  description: z.string().nullish(),
  agency: z.string().nullish(),
  url: z.string().nullish(),
  amount: printed,
  minAmount: printed,
  maxAmount: printed,
  currency: z.string().nullish(),
  openDate: z.string().nullish(),
  closeDate: z.string().nullish(),
  status: z.string().nullish(),
  categories: printedList,
  locations: printedList,
  vicOutcomeDomain: z.string().nullish(),
});
export type RawGrantRecord = z.input<typeof RawGrantRecord>;

/** A normalised record: what ingest upserts on (`source`, `externalId`). */
export const GrantInput = z.object({
  source: z.string().min(1).max(LIMITS.source).regex(SOURCE_PATTERN),
  externalId: z.string().min(1).max(LIMITS.externalId),
  title: z.string().min(1).max(LIMITS.title),
  description: z.string().max(LIMITS.description).nullable(),
  agency: z.string().max(LIMITS.agency).nullable(),
  url: z.string().max(LIMITS.url).nullable(),
  minAmount: Amount.nullable(),
  maxAmount: Amount.nullable(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  openDate: IsoDate.nullable(),
  closeDate: IsoDate.nullable(),
  status: GrantStatus,
  categories: z.array(z.string().min(1).max(LIMITS.category)).max(LIMITS.categories),
  locations: z.array(Location),
  vicOutcomeDomain: VicOutcomeDomain.nullable(),
});
export type GrantInput = z.infer<typeof GrantInput>;

/** One fault of a rejected record: the field's dotted path ('' for the record) and why. */
export interface RecordError {
  path: string;
  message: string;
}

/** What normalisation gives for one record: the GrantInput, or every fault found. */
export type NormaliseResult = { ok: true; record: GrantInput } | { ok: false; errors: RecordError[] };

/** Options of `normaliseRecord` (src/normalise/record.ts). */
export interface NormaliseOptions {
  /**
   * Today as `YYYY-MM-DD` (default: the UTC date now). A record without a status gets one
   * from its dates relative to today: closed after its close date, upcoming before its
   * open date, open otherwise.
   */
  today?: string;
}
