/**
 * The Victorian Government grants directory (www.vic.gov.au/grants), built on Single
 * Digital Presence's Ripple design system: a search listing (`?page=N`) of grant results
 * and one page per grant (`/grants/<slug>`).
 *
 * Markup as the site serves it: each result is a `.rpl-search-result` with its title link
 * in `.rpl-search-result__title a`, the summary in `.rpl-search-result__content`, and the
 * grant's facts as a definition list (`dl` of `dt` "Status" / "Funding" / "Date" and their
 * `dd`); paging is `nav.rpl-pagination` with `rel="next"` on the next page's link. The
 * grant page repeats the facts in its grant overview (`.tide-grant-overview` / `.rpl-grant-overview`,
 * again `dt`/`dd` pairs, plus "Department" and "Topic") under `h1.rpl-header__title`.
 *
 * The external id is the grant page's slug. Every grant here is Victorian; the site's
 * "Topic" becomes the Victorian outcome domain only when it names one of the enumeration.
 */
import { VIC_OUTCOME_DOMAINS } from '../../domain/grant.js';
import { absolute, clean, compact, ListDetailSource, load, splitDateRange, splitList, textOf, type Doc, type ListPage, type Sel } from './html.js';
import type { ScrapedRecord } from './types.js';

export const VIC_BASE_URL = 'https://www.vic.gov.au';
export const VIC_START_PATH = '/grants';

export interface VicItem {
  slug: string;
  title: string;
  url: string;
  summary: string | null;
  facts: Map<string, string>;
}

/** `dt`/`dd` pairs under `scope`, keyed by the lower-case term without a trailing colon. */
function definitions($: Doc, scope: Sel): Map<string, string> {
  const facts = new Map<string, string>();
  scope.find('dt').each((_, el) => {
    const term = clean($(el).text())?.replace(/:$/, '').toLowerCase();
    const value = clean($(el).nextAll('dd').first().text());
    if (term && value && !facts.has(term)) facts.set(term, value);
  });
  return facts;
}

export function vicSlug(url: string): string | null {
  try {
    const parts = new URL(url).pathname.split('/').filter((p) => p.length > 0);
    return parts.length >= 2 ? decodeURIComponent(parts[parts.length - 1]!) : null;
  } catch {
    return null;
  }
}

export function parseVicList(html: string, pageUrl: string): ListPage<VicItem> {
  const $ = load(html);
  const items: VicItem[] = [];
  $('.rpl-search-result').each((_, el) => {
    const result = $(el);
    const link = result.find('.rpl-search-result__title a').first();
    const url = absolute(link.attr('href'), pageUrl);
    const title = textOf(link);
    const slug = url ? vicSlug(url) : null;
    if (!url || !title || !slug) return;
    items.push({ slug, title, url, summary: textOf(result.find('.rpl-search-result__content')), facts: definitions($, result) });
  });
  const next = $('nav.rpl-pagination a[rel="next"], .rpl-pagination a[rel="next"]').first().attr('href');
  return { items, next: absolute(next, pageUrl) };
}

function outcomeDomain(topic: string | undefined): string | null {
  if (!topic) return null;
  const lower = topic.trim().toLowerCase();
  return (VIC_OUTCOME_DOMAINS as readonly string[]).includes(lower) ? lower : null;
}

export function vicRecord(item: VicItem, detail: { html: string; url: string } | null): ScrapedRecord {
  let facts = item.facts;
  let title = item.title;
  let description = item.summary;
  if (detail) {
    const $ = load(detail.html);
    facts = new Map([...item.facts, ...definitions($, $('.tide-grant-overview, .rpl-grant-overview').first())]);
    title = textOf($('h1.rpl-header__title, h1').first()) ?? title;
    description = textOf($('.rpl-header__summary, .tide-grant__summary').first()) ?? description;
  }
  const dates = splitDateRange(facts.get('date') ?? facts.get('dates') ?? null);
  const status = facts.get('status')?.replace(/,.*$/, '') ?? null;
  const topic = facts.get('topic');
  return compact({
    externalId: item.slug,
    title,
    description,
    agency: facts.get('department') ?? facts.get('agency') ?? null,
    url: detail?.url ?? item.url,
    amount: facts.get('funding') ?? null,
    currency: 'AUD',
    openDate: dates.start,
    closeDate: dates.end,
    status,
    categories: splitList(topic ?? null),
    locations: ['Victoria'],
    vicOutcomeDomain: outcomeDomain(topic),
  });
}

export class VicGrantsSource extends ListDetailSource<VicItem> {
  constructor(name: string, baseUrl = VIC_BASE_URL, startPath = VIC_START_PATH) {
    super('vic-gov-au', name, baseUrl, startPath, { parseList: parseVicList, toRecord: vicRecord, detailUrl: (item) => item.url });
  }
}
