/**
 * The conditional-request cache: pages answered with an `ETag` or a `Last-Modified` are
 * kept (the most recently used `cacheEntries`), so the next fetch of the same URL can ask
 * with `If-None-Match` / `If-Modified-Since` and a 304 can hand back the kept body.
 */
import type { FetchResult } from './http.js';

/** A kept page and the validators to ask for it with. */
export interface PageEntry {
  etag?: string;
  lastModified?: string;
  result: FetchResult;
}

/** Kept pages by URL, least recently used dropped first. */
export class PageCache {
  private readonly entries = new Map<string, PageEntry>();

  /** `maxEntries`: most pages kept. */
  constructor(private readonly maxEntries: number) {}

  /** The page kept for `href`, without counting as a use. */
  get(href: string): PageEntry | undefined {
    return this.entries.get(href);
  }

  /** The conditional headers that ask for `entry` only if it changed (none without one). */
  conditionalHeaders(entry: PageEntry | undefined): Record<string, string> {
    const conditional: Record<string, string> = {};
    if (entry?.etag) conditional['if-none-match'] = entry.etag;
    if (entry?.lastModified) conditional['if-modified-since'] = entry.lastModified;
    return conditional;
  }

  /** A 304 for `href`: `entry` counts as used, and its result is returned as not modified. */
  notModified(href: string, entry: PageEntry): FetchResult {
    this.remember(href, entry);
    return { ...entry.result, notModified: true };
  }

  /** A 2xx for `href`: kept when it carries a validator. */
  store(href: string, response: FetchResult): void {
    const entry: PageEntry = { result: response };
    if (response.headers.etag) entry.etag = response.headers.etag;
    if (response.headers['last-modified']) entry.lastModified = response.headers['last-modified'];
    if (entry.etag || entry.lastModified) this.remember(href, entry);
  }

  private remember(key: string, entry: PageEntry): void {
    // A Map iterates in insertion order: re-inserting makes it the newest, the first is the oldest.
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
