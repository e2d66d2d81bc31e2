/**
 * Demo grants for `npm run demo`: realistic Australian grant records as a scraper prints
 * them (amounts like "$5,000", dates like "31/03/2027", states by name), from a seeded
 * generator so every run makes the same catalogue, and the changes a live site shows
 * (a closing date pushed back, an amount raised, a round that opens or closes).
 */
import type { ScrapedRecord } from '../scrape/sources/types.js';

const PROGRAMS = [
  'Community Sport Infrastructure', 'Regional Arts Fund', 'Women in STEM', 'Landcare Small Grants', 'Men\'s Sheds Upgrade',
  'Digital Skills for Seniors', 'Bushfire Recovery', 'Multicultural Festivals', 'Youth Mental Health First Aid', 'Local Heritage Restoration',
  'Clean Energy Communities', 'Rural Health Outreach', 'School Breakfast Clubs', 'First Nations Languages', 'Small Business Export',
  'Library Makerspaces', 'Volunteer Grants', 'Coastal Habitat Repair', 'Disability Inclusion', 'Tourism Events',
];
const ROUNDS = ['Round 1', 'Round 2', 'Round 3', '2026–27', 'Stream A', 'Stream B', 'Pilot'];
const AGENCIES = [
  'Department of Health and Aged Care', 'Department of Education', 'Department of Industry, Science and Resources',
  'Department of Social Services', 'Office for the Arts', 'Sport Australia', 'Department of Climate Change, Energy, the Environment and Water',
  'Victorian Department of Families, Fairness and Housing', 'NSW Department of Communities and Justice', 'Queensland Department of Environment',
];
const STATES = ['Victoria', 'New South Wales', 'Queensland', 'South Australia', 'Western Australia', 'Tasmania', 'ACT', 'Northern Territory', 'National'];
const DOMAINS = ['education', 'health', 'community', null, null] as const;
const CATEGORIES = ['community', 'arts', 'sport', 'environment', 'health', 'education', 'business', 'youth'];

/** mulberry32: a small seeded generator (the same catalogue every run). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const dollars = (n: number) => `$${n.toLocaleString('en-AU')}`;
/** `DD/MM/YYYY`, as Australian sites print dates. */
const printed = (d: Date) => `${String(d.getUTCDate()).padStart(2, '0')}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${d.getUTCFullYear()}`;
const DAY = 86_400_000;

export function demoGrant(random: () => number, i: number, today = Date.now()): ScrapedRecord {
  const program = pick(random, PROGRAMS);
  const min = Math.round((1 + random() * 20)) * 1_000;
  const max = min + Math.round(random() * 40) * 5_000;
  const opens = new Date(today - Math.floor(random() * 120) * DAY);
  // Closing 1 to 240 days after opening: some rounds closed already, most open.
  const closes = new Date(opens.getTime() + Math.floor(1 + random() * 240) * DAY);
  const status = closes.getTime() < today ? 'Closed' : opens.getTime() > today ? 'Upcoming' : 'Open';
  const state = pick(random, STATES);
  return {
    externalId: `demo-${String(i).padStart(4, '0')}`,
    title: `${program} ${pick(random, ROUNDS)}`,
    description: `Funding for ${program.toLowerCase()} projects led by community organisations, councils and not-for-profits.`,
    agency: pick(random, AGENCIES),
    url: `https://grants.example.gov.au/programs/demo-${i}`,
    minAmount: dollars(min),
    maxAmount: dollars(max),
    openDate: printed(opens),
    closeDate: printed(closes),
    status,
    locations: state === 'National' ? 'National' : state,
    categories: [pick(random, CATEGORIES), pick(random, CATEGORIES)].filter((c, k, all) => all.indexOf(c) === k).join(', '),
    vicOutcomeDomain: state === 'Victoria' ? pick(random, DOMAINS) : null,
  };
}

/** One change a live site would show, applied to `record` (returns the new record). */
export function demoChange(random: () => number, record: ScrapedRecord): ScrapedRecord {
  const r = random();
  const next = { ...record };
  if (r < 0.35) {
    const close = String(record.closeDate ?? '01/01/2027').split('/').map(Number);
    const d = new Date(Date.UTC(close[2]!, close[1]! - 1, close[0]! + 7 + Math.floor(random() * 21)));
    next.closeDate = printed(d);
    next.title = record.title.replace(/( \(extended\))?$/, ' (extended)');
  } else if (r < 0.7) {
    const max = Number(String(record.maxAmount ?? '$0').replace(/[$,]/g, ''));
    next.maxAmount = dollars(max + Math.round(1 + random() * 10) * 1_000);
  } else if (r < 0.85) {
    next.status = record.status === 'Open' ? 'Closed' : 'Open';
  } else {
    next.locations = pick(random, STATES);
    next.vicOutcomeDomain = next.locations === 'Victoria' ? pick(random, DOMAINS) : null;
  }
  return next;
}
