/**
 * The change event: what the relay publishes on `grants.changed.<id>` (CONTRACT section 4)
 * and, with `type: "grant"`, what the gateway sends to browsers (section 5).
 */
import { z } from 'zod';
import { Grant, GrantId } from './grant.js';

/**
 * The filter fields of a grant before a change (domain/filter.ts `FilterFields`): on an
 * update, those that changed, as they were; on a delete, all of them. What lets a gateway
 * decide that a grant left a filtered view from the event alone (CONTRACT v1.1 section 5).
 */
export const PreviousFields = Grant.pick({
  source: true,
  title: true,
  description: true,
  agency: true,
  maxAmount: true,
  closeDate: true,
  status: true,
  locations: true,
  vicOutcomeDomain: true,
}).partial();
export type PreviousFields = z.infer<typeof PreviousFields>;

export const CHANGE_OPS = ['insert', 'update', 'delete'] as const;
export const ChangeOp = z.enum(CHANGE_OPS);
export type ChangeOp = z.infer<typeof ChangeOp>;

export const ChangeEvent = z
  .object({
    /** Position in stream GRANTS; strictly increasing in commit order. */
    seq: z.number().int().positive(),
    op: ChangeOp,
    id: GrantId,
    /** The row's version after the change; a delete carries the deleted version plus one. */
    version: z.number().int().positive(),
    /** The whole row after the change; null on delete. */
    grant: Grant.nullable(),
    committedAt: z.iso.datetime({ offset: true }),
    /** On the bus only (not in frames): the filter fields before the change; absent on insert. */
    previous: PreviousFields.optional(),
  })
  .refine((e) => (e.op === 'delete') === (e.grant === null), { message: 'grant is null exactly when op is delete', path: ['grant'] });
export type ChangeEvent = z.infer<typeof ChangeEvent>;

/** Subject names of CONTRACT section 4. */
export const Subjects = {
  grantChanged: (id: string) => `grants.changed.${id}`,
  grantChangedAll: 'grants.changed.>',
} as const;

export const Streams = {
  grants: 'GRANTS',
  /** `scrape.grants.>` until ingested (work queue); see docs/ingest.md. */
  scrape: 'SCRAPE',
  /** `scrape.rejected.>`, kept for inspection for SCRAPE_REJECTED_MAX_AGE. */
  scrapeRejected: 'SCRAPE_REJECTED',
} as const;
