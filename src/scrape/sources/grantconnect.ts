/**
 * GrantConnect (www.grants.gov.au), the Commonwealth's grants information system: the
 * "Current Grant Opportunities" list (`/Go/List`, paged with `?page=N`) and each
 * opportunity's page (`/Go/Show?GoUuid=<uuid>`).
 *
 * Markup as the site serves it: each list entry is an `<article role="article">` with the
 * title in `p.font20[role=heading]` and fields as `div.list-desc` pairs, a `<span>` label
 * ("GO ID:", "Agency:", "Close Date & Time:", "Primary Category:", "Description:") and a
 * `div.list-desc-inner` value; the GO ID links to the detail page (`a.u`), as does "Full
 * Details" (`a.detail`). The detail page has the title in `p.lead` and the same label pairs,
 * plus "Publish Date:", "Location:", "Total Amount Available (AUD):" and "Estimated Grant
 * Value (AUD):" (a range such as "From $10,000 to $500,000", published as `amount`). Paging is a Bootstrap
 * `ul.pagination` with `rel="next"` on the next page's link.
 *
 * The external id is the GO ID (e.g. "GO7123"), stable across re-publication; everything
 * on this list is open for applications.
 */
import { absolute, clean, compact, ListDetailSource, load, splitList, textOf, type Doc, type ListPage, type Sel } from './html.js';
import type { ScrapedRecord } from './types.js';

export const GRANTCONNECT_BASE_URL = 'https://www.grants.gov.au';
export const GRANTCONNECT_START_PATH = '/Go/List';

export interface GrantConnectItem {
  goId: string;
  title: string;
  detailUrl: string | null;
  fields: Map<string, string>;
}

/** The `div.list-desc` label/value pairs under `scope`, keyed by the label without its colon, lower case. */
function labelled($: Doc, scope: Sel): Map<string, string> {
  const fields = new Map<string, string>();
  scope.find('.list-desc').each((_, el) => {
    const row = $(el);
    const label = clean(row.children('span').first().text())?.replace(/:$/, '').toLowerCase();
    const inner = row.children('.list-desc-inner').first();
    // The close date carries its time zone in a nested <span> and a "show other time
    // zones" aside (.small, a button): keep the date and time, drop those.
    const value = clean(inner.clone().children('span, .small, button').remove().end().text()) ?? textOf(inner);
    if (label && value && !fields.has(label)) fields.set(label, value);
  });
  return fields;
}

export function parseGrantConnectList(html: string, pageUrl: string): ListPage<GrantConnectItem> {
  const $ = load(html);
  const items: GrantConnectItem[] = [];
  $('article[role="article"]').each((_, el) => {
    const article = $(el);
    const fields = labelled($, article);
    const goId = fields.get('go id');
    const title = textOf(article.find('p.font20[role="heading"], p.font20').first());
    if (!goId || !title) return;
    const link = article.find('a.detail').attr('href') ?? article.find('.list-desc-inner a.u, .list-desc-inner a').first().attr('href');
    items.push({ goId, title, detailUrl: absolute(link, pageUrl), fields });
  });
  const next = $('ul.pagination a[rel="next"]').first().attr('href') ?? $('ul.pagination li.next a').first().attr('href');
  return { items, next: absolute(next, pageUrl) };
}

export function grantConnectRecord(item: GrantConnectItem, detail: { html: string; url: string } | null): ScrapedRecord {
  let fields = item.fields;
  let title = item.title;
  if (detail) {
    const $ = load(detail.html);
    const box = $('.boxY, main, body').first();
    const detailFields = labelled($, box);
    fields = new Map([...item.fields, ...detailFields]);
    title = textOf($('.boxY p.lead, p.lead').first()) ?? title;
  }
  return compact({
    externalId: item.goId,
    title,
    description: fields.get('description') ?? null,
    agency: fields.get('agency') ?? null,
    url: detail?.url ?? item.detailUrl,
    // Per grant, as printed ("From $10,000 to $500,000"); "Total Amount Available" is the
    // whole pool, not what one applicant can get, so it is not an amount of the grant.
    amount: fields.get('estimated grant value (aud)') ?? null,
    currency: 'AUD',
    openDate: fields.get('publish date') ?? null,
    // "15-Mar-2026 5:00 pm": the zone ("(ACT Local Time)") sits in a nested span, dropped above.
    closeDate: fields.get('close date & time') ?? null,
    status: 'Open',
    categories: [fields.get('primary category'), fields.get('secondary category')].filter((c): c is string => !!c),
    locations: splitList(fields.get('location') ?? null),
  });
}

export class GrantConnectSource extends ListDetailSource<GrantConnectItem> {
  constructor(name: string, baseUrl = GRANTCONNECT_BASE_URL, startPath = GRANTCONNECT_START_PATH) {
    super('grantconnect', name, baseUrl, startPath, { parseList: parseGrantConnectList, toRecord: grantConnectRecord, detailUrl: (item) => item.detailUrl });
  }
}
