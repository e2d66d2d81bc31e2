/** Source definitions the scraper tests share: configuration only, as a sources file holds them. */

/** A council grants page read by the generic HTML source (fixtures under generic/). */
export const SHIRE_SOURCE = {
  name: 'example-shire',
  kind: 'html',
  startUrl: 'https://www.example-shire.vic.gov.au/grants',
  list: { item: 'article.grant-card', link: '.grant-card__title a' },
  fields: {
    externalId: { selector: ':scope', attr: 'data-grant-id' },
    title: '.grant-card__title',
    description: '.grant-card__summary',
    amount: '.amount',
    closeDate: { selector: '.closes time', attr: 'datetime' },
    status: '.state',
    agency: { value: 'Example Shire Council' },
    locations: { value: ['VIC'] },
  },
  detail: { fields: { openDate: 'td.opens', categories: { selector: 'td.category', all: true }, description: '.grant-body p' } },
} as const;
