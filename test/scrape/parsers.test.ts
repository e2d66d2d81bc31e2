/**
 * Acceptance 6: each real source's fixture pages (list pages with paging, and detail
 * pages, in the markup shape the site serves) parse into the expected records, checked
 * through ingest's own `normaliseRecord`: amounts as numbers, ISO dates, state codes,
 * statuses of the enumeration. The generic source is driven by a configuration only.
 */
import { describe, expect, it } from 'vitest';
import type { GrantInput } from '../../src/domain/scraped.js';
import { normaliseRecord } from '../../src/normalise/record.js';
import { GenericHtmlSource, GenericJsonSource } from '../../src/scrape/sources/generic.js';
import { grantConnectRecord, parseGrantConnectList } from '../../src/scrape/sources/grantconnect.js';
import { SourceDefinition } from '../../src/scrape/sources/registry.js';
import type { ScrapedRecord } from '../../src/scrape/sources/types.js';
import { parseVicList, vicRecord } from '../../src/scrape/sources/vic-gov-au.js';
import { SHIRE_SOURCE } from './sources.js';
import { fixture } from './site.js';

const GC = 'https://www.grants.gov.au';
const VIC = 'https://www.vic.gov.au';

function normalised(record: ScrapedRecord, source: string): GrantInput {
  const result = normaliseRecord(record, source);
  if (!result.ok) throw new Error(`${record.externalId} rejected: ${JSON.stringify(result.errors)}`);
  return result.record;
}

const gcDetail: Record<string, string> = {
  '7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e01': 'GO7101',
  '7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e02': 'GO7102',
  '7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e03': 'GO7103',
};

describe('scrape parsers - GrantConnect', () => {
  it('grantconnect - list pages give items and the next page, up to the last', () => {
    const one = parseGrantConnectList(fixture('grantconnect/list-1.html'), `${GC}/Go/List`);
    expect(one.items.map((i) => i.goId)).toEqual(['GO7101', 'GO7102']);
    expect(one.next).toBe(`${GC}/Go/List?page=2`);
    expect(one.items[0]!.detailUrl).toBe(`${GC}/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e01`);
    const two = parseGrantConnectList(fixture('grantconnect/list-2.html'), `${GC}/Go/List?page=2`);
    expect(two.items.map((i) => i.goId)).toEqual(['GO7103']);
    expect(two.next).toBeNull();
  });

  it('grantconnect - list and detail pages normalise into the expected grants', () => {
    const items = [
      ...parseGrantConnectList(fixture('grantconnect/list-1.html'), `${GC}/Go/List`).items,
      ...parseGrantConnectList(fixture('grantconnect/list-2.html'), `${GC}/Go/List?page=2`).items,
    ];
    const records = items.map((item) => {
      const uuid = new URL(item.detailUrl!).searchParams.get('GoUuid')!;
      return normalised(grantConnectRecord(item, { html: fixture(`grantconnect/show-${gcDetail[uuid]}.html`), url: item.detailUrl! }), 'grantconnect');
    });
    expect(records).toEqual([
      {
        source: 'grantconnect',
        externalId: 'GO7101',
        title: 'Regional Precincts and Partnerships Program – Stream Two',
        description: 'Funding to deliver precinct projects that transform regional places.',
        agency: 'Department of Infrastructure, Transport, Regional Development, Communications and the Arts',
        url: `${GC}/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e01`,
        minAmount: 500_000,
        maxAmount: 15_000_000,
        currency: 'AUD',
        openDate: '2026-11-14',
        closeDate: '2027-04-30',
        status: 'open',
        categories: ['Regional Development'],
        locations: ['ACT', 'NSW', 'NT', 'QLD', 'SA', 'TAS', 'VIC', 'WA'],
        vicOutcomeDomain: null,
      },
      {
        source: 'grantconnect',
        externalId: 'GO7102',
        title: 'Australia’s Economic Accelerator Ignite',
        description: 'Grants for research translation projects at proof of concept stage.',
        agency: 'Department of Education',
        url: `${GC}/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e02`,
        minAmount: null,
        maxAmount: 500_000,
        currency: 'AUD',
        openDate: '2026-11-02',
        closeDate: '2027-03-12',
        status: 'open',
        categories: ['Research and Development'],
        locations: ['national'],
        vicOutcomeDomain: null,
      },
      {
        source: 'grantconnect',
        externalId: 'GO7103',
        title: 'Indigenous Languages and Arts Program 2027-28',
        description: 'Support for the expression, preservation and revitalisation of Indigenous languages and arts.',
        agency: 'Office for the Arts',
        url: `${GC}/Go/Show?GoUuid=7f1c2a34-11aa-4b8e-9d51-0a1b2c3d4e03`,
        minAmount: 10_000,
        maxAmount: 200_000,
        currency: 'AUD',
        openDate: '2026-11-20',
        closeDate: '2027-02-05',
        status: 'open',
        categories: ['Arts and Culture'],
        locations: ['NT', 'WA'],
        vicOutcomeDomain: null,
      },
    ]);
  });

  it('grantconnect - a list entry alone (detail page unavailable) still normalises', () => {
    const [item] = parseGrantConnectList(fixture('grantconnect/list-1.html'), `${GC}/Go/List`).items;
    const record = normalised(grantConnectRecord(item!, null), 'grantconnect');
    expect(record).toMatchObject({ externalId: 'GO7101', closeDate: '2027-04-30', status: 'open', minAmount: null, openDate: null });
  });
});

describe('scrape parsers - vic.gov.au', () => {
  it('vic - list pages give items and the next page', () => {
    const one = parseVicList(fixture('vic-gov-au/grants-page-1.html'), `${VIC}/grants`);
    expect(one.items.map((i) => i.slug)).toEqual(['community-sport-infrastructure-fund', 'mental-health-community-support-grants']);
    expect(one.next).toBe(`${VIC}/grants?page=2`);
    const two = parseVicList(fixture('vic-gov-au/grants-page-2.html'), `${VIC}/grants?page=2`);
    expect(two.items.map((i) => i.slug)).toEqual(['tech-schools-enrichment-grants']);
    expect(two.next).toBeNull();
  });

  it('vic - list and detail pages normalise into the expected grants', () => {
    const items = [
      ...parseVicList(fixture('vic-gov-au/grants-page-1.html'), `${VIC}/grants`).items,
      ...parseVicList(fixture('vic-gov-au/grants-page-2.html'), `${VIC}/grants?page=2`).items,
    ];
    const records = items.map((item) => normalised(vicRecord(item, { html: fixture(`vic-gov-au/grant-${item.slug}.html`), url: item.url }), 'vic-gov-au'));
    expect(records).toEqual([
      {
        source: 'vic-gov-au',
        externalId: 'community-sport-infrastructure-fund',
        title: 'Community Sport Infrastructure Fund',
        description: 'Funding for community sport and active recreation infrastructure across Victoria.',
        agency: 'Department of Jobs, Skills, Industry and Regions',
        url: `${VIC}/grants/community-sport-infrastructure-fund`,
        minAmount: 10_000,
        maxAmount: 3_000_000,
        currency: 'AUD',
        openDate: '2026-11-01',
        closeDate: '2027-01-10',
        status: 'open',
        categories: ['Sport and recreation'],
        locations: ['VIC'],
        vicOutcomeDomain: null,
      },
      {
        source: 'vic-gov-au',
        externalId: 'mental-health-community-support-grants',
        title: 'Mental Health Community Support Grants',
        description: 'Grants for local organisations supporting community mental health and wellbeing.',
        agency: 'Department of Health',
        url: `${VIC}/grants/mental-health-community-support-grants`,
        minAmount: null,
        maxAmount: 50_000,
        currency: 'AUD',
        openDate: '2027-01-15',
        closeDate: '2027-02-28',
        status: 'upcoming',
        categories: ['Health'],
        locations: ['VIC'],
        vicOutcomeDomain: 'health',
      },
      {
        source: 'vic-gov-au',
        externalId: 'tech-schools-enrichment-grants',
        title: 'Tech Schools Enrichment Grants',
        description: 'Grants for Victorian schools to run STEM enrichment programs with local tech schools.',
        agency: 'Department of Education',
        url: `${VIC}/grants/tech-schools-enrichment-grants`,
        minAmount: 5_000,
        maxAmount: 5_000,
        currency: 'AUD',
        openDate: '2026-07-01',
        closeDate: '2026-08-31',
        status: 'closed',
        categories: ['Education'],
        locations: ['VIC'],
        vicOutcomeDomain: 'education',
      },
    ]);
  });

  it('vic - a list result alone reads "Open, closing in 45 days" as open', () => {
    const [item] = parseVicList(fixture('vic-gov-au/grants-page-1.html'), `${VIC}/grants`).items;
    expect(normalised(vicRecord(item!, null), 'vic-gov-au')).toMatchObject({ status: 'open', minAmount: 10_000, maxAmount: 3_000_000, closeDate: '2027-01-10', agency: null });
  });
});


describe('scrape parsers - generic source', () => {
  it('generic html - a configuration alone reads list and detail pages', () => {
    const def = SourceDefinition.parse(SHIRE_SOURCE);
    if (def.kind !== 'html') throw new Error('expected an html source');
    const source = new GenericHtmlSource(def);
    const list = source.parseList(fixture('generic/council-grants.html'), def.startUrl);
    expect(list.items.map((i) => i.link)).toEqual([
      'https://www.example-shire.vic.gov.au/grants/community-strengthening-2027',
      'https://www.example-shire.vic.gov.au/grants/festivals-and-events-2027',
    ]);
    const records = list.items.map((item) => {
      const slug = item.link!.split('/').pop();
      return normalised(source.record(item, { html: fixture(`generic/grant-${slug}.html`), url: item.link! })!, 'example-shire');
    });
    expect(records).toEqual([
      {
        source: 'example-shire',
        externalId: 'csg-2027',
        title: 'Community Strengthening Grants 2027',
        description: 'Small grants for local clubs and groups to run programs that bring residents together.',
        agency: 'Example Shire Council',
        url: 'https://www.example-shire.vic.gov.au/grants/community-strengthening-2027',
        minAmount: null,
        maxAmount: 5_000,
        currency: 'AUD',
        openDate: '2026-12-01',
        closeDate: '2027-03-31',
        status: 'open',
        categories: ['Community'],
        locations: ['VIC'],
        vicOutcomeDomain: null,
      },
      {
        source: 'example-shire',
        externalId: 'fest-2027',
        title: 'Festivals and Events Grants',
        description: 'Support for community festivals and events held in the shire.',
        agency: 'Example Shire Council',
        url: 'https://www.example-shire.vic.gov.au/grants/festivals-and-events-2027',
        minAmount: 1_000,
        maxAmount: 20_000,
        currency: 'AUD',
        openDate: '2026-11-15',
        closeDate: '2027-02-14',
        status: 'open',
        categories: ['Arts and culture'],
        locations: ['VIC'],
        vicOutcomeDomain: null,
      },
    ]);
  });

  it('generic json - dotted paths map an API response; JSON numbers stay numbers', () => {
    const def = SourceDefinition.parse({
      name: 'example-api',
      kind: 'json',
      startUrl: 'https://api.example.gov.au/api/grants',
      items: 'data',
      next: 'links.next',
      fields: {
        externalId: 'id',
        title: 'attributes.name',
        minAmount: 'attributes.amount_min',
        maxAmount: 'attributes.amount_max',
        closeDate: 'attributes.closes',
        status: 'attributes.state',
        locations: { path: 'attributes.regions', all: true },
        url: 'attributes.link',
      },
    });
    if (def.kind !== 'json') throw new Error('expected a json source');
    const source = new GenericJsonSource(def);
    const one = source.parseList(fixture('generic/api-grants-1.json'), def.startUrl);
    expect(one.next).toBe('https://api.example.gov.au/api/grants?page=2');
    expect(one.items[0]).toMatchObject({ externalId: '4101', minAmount: 2000, maxAmount: 10000 });
    const two = source.parseList(fixture('generic/api-grants-2.json'), one.next!);
    expect(two.next).toBeNull();
    const records = [...one.items, ...two.items].map((r) => normalised(r, 'example-api'));
    expect(records.map((r) => [r.externalId, r.minAmount, r.maxAmount, r.closeDate, r.status, r.locations, r.url])).toEqual([
      ['4101', 2_000, 10_000, '2027-05-31', 'open', ['QLD'], 'https://api.example.gov.au/programs/4101'],
      ['4102', null, 150_000, '2027-06-30', 'open', ['national'], 'https://api.example.gov.au/programs/4102'],
      ['4103', null, 250_000, '2027-04-15', 'upcoming', ['NSW', 'VIC'], 'https://api.example.gov.au/programs/4103'],
    ]);
  });

  it('generic - a bad definition is refused with the path of the problem', () => {
    const bad = SourceDefinition.safeParse({ ...SHIRE_SOURCE, fields: { ...SHIRE_SOURCE.fields, closeDate: { selector: '.closes', path: 'x' } } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path.join('.')).toContain('closeDate');
    expect(SourceDefinition.safeParse({ ...SHIRE_SOURCE, name: 'Bad.Name' }).success).toBe(false);
    expect(SourceDefinition.safeParse({ ...SHIRE_SOURCE, fields: { ...SHIRE_SOURCE.fields, nonsense: 'x' } }).success).toBe(false);
  });
});
