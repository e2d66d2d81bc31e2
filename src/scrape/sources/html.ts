/**
 * Small helpers the site parsers share over cheerio: whitespace-normalised text, absolute
 * links, "Label: value" pairs, and the list-then-detail crawl most grant sites need.
 */
import * as cheerio from 'cheerio';
import { HostBlockedError, RobotsDisallowedError } from '../errors.js';
import type { ScrapedRecord, Source, SourceContext } from './types.js';

export type Doc = cheerio.CheerioAPI;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- cheerio's node type lives in domhandler, not a dependency of ours
export type Sel = cheerio.Cheerio<any>;

export function load(html: string): Doc {
  return cheerio.load(html);
}

/** Text with runs of whitespace (incl. non-breaking spaces) collapsed; null when empty. */
export function clean(text: string | undefined | null): string | null {
  if (text === undefined || text === null) return null;
  const value = text.replace(/[\s\u00a0]+/g, ' ').trim();
  return value === '' ? null : value;
}

export function textOf(node: Sel): string | null {
  return clean(node.first().text());
}

/** An absolute URL for `href` on the page at `base`, or null. */
export function absolute(href: string | undefined, base: string): string | null {
  if (!href) return null;
  try {
    return new URL(href, base).href;
  } catch {
    return null;
  }
}

/** Drops null and undefined fields, so a record carries only what the site printed. */
export function compact(record: ScrapedRecord): ScrapedRecord {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out[key] = value;
  }
  return out as unknown as ScrapedRecord;
}

/** Splits "A, B" or "A; B" into items ("and" is left alone: "Sport and recreation" is one). */
export function splitList(text: string | null): string[] {
  if (!text) return [];
  return text
    .split(/\s*[,;|]\s*/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Splits a date range as printed ("1 March 2026 - 30 April 2026") into its two ends. */
export function splitDateRange(text: string | null): { start: string | null; end: string | null } {
  if (!text) return { start: null, end: null };
  const parts = text.split(/\s+(?:-|–|—|to|until)\s+/i);
  if (parts.length === 2) return { start: clean(parts[0]), end: clean(parts[1]) };
  return { start: null, end: clean(text) };
}

export interface ListPage<T> {
  items: T[];
  next: string | null;
}

/**
 * The crawl most sources share: list pages (following `next` up to `ctx.maxPages`), and
 * for each item optionally a detail page. A list page that fails ends the crawl by
 * throwing (the run cannot be complete); a detail page that fails is a problem and the
 * record is published from the list data alone. Blocks and robots refusals always throw.
 */
export async function* crawl<T>(
  ctx: SourceContext,
  startUrl: string,
  parseList: (html: string, pageUrl: string) => ListPage<T>,
  toRecord: (item: T, detail: { html: string; url: string } | null) => ScrapedRecord | null,
  detailUrl: (item: T) => string | null,
): AsyncIterable<ScrapedRecord> {
  const seen = new Set<string>();
  let url: string | null = startUrl;
  for (let page = 0; url && page < ctx.maxPages; page++) {
    if (seen.has(url)) break;
    seen.add(url);
    const listPage = await ctx.fetch(url);
    const parsed = parseList(listPage.body, listPage.url);
    if (parsed.items.length === 0 && page === 0) ctx.problem(`no grants found on ${listPage.url}: has the page's markup changed?`);
    for (const item of parsed.items) {
      const link = detailUrl(item);
      let detail: { html: string; url: string } | null = null;
      if (link) {
        try {
          const res = await ctx.fetch(link);
          detail = { html: res.body, url: res.url };
        } catch (err) {
          if (err instanceof HostBlockedError) throw err;
          if (!(err instanceof RobotsDisallowedError)) ctx.problem(`detail page ${link} failed: ${(err as Error).message}`, err);
        }
      }
      let record: ScrapedRecord | null = null;
      try {
        record = toRecord(item, detail);
      } catch (err) {
        ctx.problem(`could not read the grant at ${link ?? listPage.url}: ${(err as Error).message}`, err);
      }
      if (record) yield record;
    }
    url = parsed.next;
    if (url && page + 1 >= ctx.maxPages) ctx.problem(`stopped after ${ctx.maxPages} list pages (SCRAPE_MAX_PAGES)`);
  }
}

/** What a list-then-detail site parser provides (see `crawl`). */
export interface ListDetailSite<T> {
  parseList: (html: string, pageUrl: string) => ListPage<T>;
  toRecord: (item: T, detail: { html: string; url: string } | null) => ScrapedRecord | null;
  detailUrl: (item: T) => string | null;
}

/** A built-in source read with `crawl` from `startPath` on `baseUrl` (a mirror or a test server in tests). */
export class ListDetailSource<T> implements Source {
  readonly startUrl: string;

  constructor(
    readonly kind: string,
    readonly name: string,
    baseUrl: string,
    startPath: string,
    private readonly site: ListDetailSite<T>,
  ) {
    this.startUrl = new URL(startPath, baseUrl).href;
  }

  scrape(ctx: SourceContext): AsyncIterable<ScrapedRecord> {
    return crawl(ctx, this.startUrl, this.site.parseList, this.site.toRecord, this.site.detailUrl);
  }
}
