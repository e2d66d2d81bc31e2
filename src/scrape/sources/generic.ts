/**
 * The generic source: a new site described in the sources file, no code.
 *
 * - `kind: "html"`: `list.item` selects each grant on a list page, `list.next` the link to
 *   the next page, `list.link` (optional) the link to a detail page; `fields` maps Grant
 *   fields to CSS selectors inside an item, `detail.fields` to selectors on the detail page
 *   (they win over the list's).
 * - `kind: "json"`: `items` is the dotted path of the array of grants in the response,
 *   `next` the path of the next page's URL; `fields` maps Grant fields to dotted paths.
 *
 * A field is a selector/path string, or `{ selector | path, attr?, pattern?, all?, value? }`:
 * `attr` reads an attribute instead of the text, `pattern` keeps the regex's first group,
 * `all` collects every match (for `categories` and `locations`), `value` is a constant.
 * In an HTML list, the selector `:scope` is the item element itself.
 */
import { z } from 'zod';
import { absolute, clean, compact, crawl, load, type Doc, type Sel } from './html.js';
import type { ScrapedRecord, Source, SourceContext } from './types.js';

export const RECORD_FIELDS = [
  'externalId',
  'title',
  'description',
  'agency',
  'url',
  'amount',
  'minAmount',
  'maxAmount',
  'currency',
  'openDate',
  'closeDate',
  'status',
  'categories',
  'locations',
  'vicOutcomeDomain',
] as const;
const LIST_FIELDS = new Set<string>(['categories', 'locations']);

const pattern = z.string().refine((p) => {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

export const FieldSpec = z.union([
  z.string().min(1),
  z
    .object({
      selector: z.string().min(1).optional(),
      path: z.string().min(1).optional(),
      attr: z.string().min(1).optional(),
      pattern: pattern.optional(),
      all: z.boolean().optional(),
      value: z.union([z.string(), z.array(z.string())]).optional(),
    })
    .strict()
    .refine((f) => [f.selector, f.path, f.value].filter((v) => v !== undefined).length === 1, 'give exactly one of selector, path or value'),
]);
export type FieldSpec = z.infer<typeof FieldSpec>;

const FieldMap = z
  .partialRecord(z.enum(RECORD_FIELDS), FieldSpec)
  .describe('Grant field -> where to read it');

export const HtmlSourceDefinition = z
  .object({
    name: z.string(),
    kind: z.literal('html'),
    startUrl: z.url({ protocol: /^https?$/ }),
    list: z
      .object({
        item: z.string().min(1),
        next: z.string().min(1).optional(),
        link: z.string().min(1).optional(),
      })
      .strict(),
    fields: FieldMap,
    detail: z.object({ fields: FieldMap }).strict().optional(),
  })
  .strict();
export type HtmlSourceDefinition = z.infer<typeof HtmlSourceDefinition>;

export const JsonSourceDefinition = z
  .object({
    name: z.string(),
    kind: z.literal('json'),
    startUrl: z.url({ protocol: /^https?$/ }),
    items: z.string(),
    next: z.string().min(1).optional(),
    fields: FieldMap,
  })
  .strict();
export type JsonSourceDefinition = z.infer<typeof JsonSourceDefinition>;

function normaliseSpec(spec: FieldSpec): Exclude<FieldSpec, string> {
  return typeof spec === 'string' ? { selector: spec, path: spec } : spec;
}

function applyPattern(value: string | null, re: string | undefined): string | null {
  if (value === null || re === undefined) return value;
  const m = new RegExp(re).exec(value);
  return m ? clean(m[1] ?? m[0]) : null;
}

/** Builds a record from per-field readers; list fields collect arrays. */
function assemble(fields: Partial<Record<(typeof RECORD_FIELDS)[number], FieldSpec>>, read: (spec: Exclude<FieldSpec, string>) => string[]): Partial<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [field, raw] of Object.entries(fields)) {
    const spec = normaliseSpec(raw);
    if (spec.value !== undefined) {
      out[field] = LIST_FIELDS.has(field) ? [spec.value].flat() : [spec.value].flat()[0];
      continue;
    }
    const values = read(spec)
      .map((v) => applyPattern(clean(v), spec.pattern))
      .filter((v): v is string => v !== null);
    out[field] = LIST_FIELDS.has(field) ? values : (values[0] ?? null);
  }
  return out;
}

function readHtml($: Doc, scope: Sel, spec: Exclude<FieldSpec, string>, base: string): string[] {
  const selector = spec.selector ?? spec.path!;
  // `:scope` is the item itself (e.g. an id in the item's own data attribute).
  const nodes = selector === ':scope' ? scope : scope.find(selector);
  const picked = spec.all ? nodes.toArray() : nodes.toArray().slice(0, 1);
  return picked.map((node) => {
    const el = $(node);
    if (!spec.attr) return el.text();
    const value = el.attr(spec.attr) ?? '';
    return spec.attr === 'href' || spec.attr === 'src' ? (absolute(value, base) ?? value) : value;
  });
}

function toRecord(raw: Partial<Record<string, unknown>>): ScrapedRecord | null {
  if (typeof raw.externalId !== 'string' || typeof raw.title !== 'string') return null;
  return compact(raw as unknown as ScrapedRecord);
}

interface HtmlItem {
  fields: Partial<Record<string, unknown>>;
  link: string | null;
}

export class GenericHtmlSource implements Source {
  readonly kind = 'html';
  readonly name: string;
  readonly startUrl: string;

  constructor(private readonly def: HtmlSourceDefinition) {
    this.name = def.name;
    this.startUrl = def.startUrl;
  }

  parseList(html: string, pageUrl: string): { items: HtmlItem[]; next: string | null } {
    const $ = load(html);
    const items: HtmlItem[] = [];
    $(this.def.list.item).each((_, el) => {
      const scope = $(el);
      const fields = assemble(this.def.fields, (spec) => readHtml($, scope, spec, pageUrl));
      const href = this.def.list.link ? scope.find(this.def.list.link).first().attr('href') : undefined;
      items.push({ fields, link: absolute(href, pageUrl) });
    });
    const next = this.def.list.next ? $(this.def.list.next).first().attr('href') : undefined;
    return { items, next: absolute(next, pageUrl) };
  }

  record(item: HtmlItem, detail: { html: string; url: string } | null): ScrapedRecord | null {
    let fields = item.fields;
    if (detail && this.def.detail) {
      const $ = load(detail.html);
      const fromDetail = assemble(this.def.detail.fields, (spec) => readHtml($, $.root(), spec, detail.url));
      fields = { ...fields };
      for (const [key, value] of Object.entries(fromDetail)) {
        if (value !== null && !(Array.isArray(value) && value.length === 0)) fields[key] = value;
      }
    }
    if (fields.url === undefined || fields.url === null) fields = { ...fields, url: detail?.url ?? item.link };
    const record = toRecord(fields);
    if (!record) throw new Error('externalId or title not found with the configured selectors');
    return record;
  }

  scrape(ctx: SourceContext): AsyncIterable<ScrapedRecord> {
    return crawl(
      ctx,
      this.startUrl,
      (html, url) => this.parseList(html, url),
      (item, detail) => this.record(item, detail),
      (item) => (this.def.detail ? item.link : null),
    );
  }
}

/** Reads a dotted path (`data.items`, `links.next`, `tags.0`) from parsed JSON. */
export function atPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.').filter((k) => k.length > 0)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function jsonValues(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.flatMap(jsonValues);
  if (typeof value === 'object') return [];
  return [String(value)];
}

export class GenericJsonSource implements Source {
  readonly kind = 'json';
  readonly name: string;
  readonly startUrl: string;

  constructor(private readonly def: JsonSourceDefinition) {
    this.name = def.name;
    this.startUrl = def.startUrl;
  }

  parseList(body: string, pageUrl: string): { items: ScrapedRecord[]; next: string | null; skipped: number } {
    const data: unknown = JSON.parse(body);
    const list = atPath(data, this.def.items);
    if (!Array.isArray(list)) throw new Error(`"${this.def.items}" is not an array in ${pageUrl}`);
    const items: ScrapedRecord[] = [];
    let skipped = 0;
    for (const entry of list) {
      const fields = assemble(this.def.fields, (spec) => {
        const values = jsonValues(atPath(entry, spec.path ?? spec.selector!));
        return spec.all ? values : values.slice(0, 1);
      });
      // JSON numbers stay numbers: amounts a site gives as numbers need no parsing.
      for (const field of ['minAmount', 'maxAmount'] as const) {
        const spec = this.def.fields[field];
        if (spec === undefined) continue;
        const raw = atPath(entry, normaliseSpec(spec).path ?? normaliseSpec(spec).selector ?? '');
        if (typeof raw === 'number' && normaliseSpec(spec).pattern === undefined) fields[field] = raw;
      }
      if (typeof fields.url === 'string') fields.url = absolute(fields.url, pageUrl) ?? fields.url;
      const record = toRecord(fields);
      if (record) items.push(record);
      else skipped++;
    }
    const next = this.def.next ? atPath(data, this.def.next) : undefined;
    return { items, next: typeof next === 'string' && next.length > 0 ? absolute(next, pageUrl) : null, skipped };
  }

  async *scrape(ctx: SourceContext): AsyncIterable<ScrapedRecord> {
    const seen = new Set<string>();
    let url: string | null = this.startUrl;
    for (let page = 0; url && page < ctx.maxPages && !seen.has(url); page++) {
      seen.add(url);
      const res = await ctx.fetch(url);
      const parsed = this.parseList(res.body, res.url);
      if (parsed.skipped > 0) ctx.problem(`${parsed.skipped} item(s) on ${res.url} had no externalId or title at the configured paths`);
      if (parsed.items.length === 0 && page === 0) ctx.problem(`no grants found on ${res.url}: has the API changed?`);
      yield* parsed.items;
      url = parsed.next;
    }
  }
}
