/**
 * The cache's Redis key names (docs/cache.md), in one place for the read side (store.ts)
 * and the invalidator: both must agree on every one of them.
 */
import { createHash } from 'node:crypto';

export interface CacheKeys {
  /** A grant's entry or tombstone. */
  grant(id: string): string;
  /** What `grant(id)` puts before the id (the invalidation script appends ids to it). */
  grantPrefix: string;
  /** A list page, by its canonical query. */
  list(query: string): string;
  /** The sorted set of stored list pages by fill time (their budget); matched by `patterns`. */
  listIndex: string;
  /** The invalidation watermark. */
  watermark: string;
  /** SCAN patterns that match every entry, tombstone and page (not the watermark). */
  patterns: readonly string[];
}

export function cacheKeys(prefix: string): CacheKeys {
  const grantPrefix = `${prefix}g:`;
  const listPrefix = `${prefix}l:`;
  return {
    grant: (id) => `${grantPrefix}${id}`,
    grantPrefix,
    list: (query) => `${listPrefix}${createHash('sha1').update(query).digest('base64url')}`,
    // No page key is five characters long (a sha1 in base64url is 27).
    listIndex: `${listPrefix}index`,
    watermark: `${prefix}wm`,
    patterns: [`${grantPrefix}*`, `${listPrefix}*`],
  };
}
