/**
 * A seeded, realistic grant catalogue and the saved searches people keep on it, for the
 * views bench. Unlike test/support/random-grants.ts (edge cases on purpose: accents, LIKE
 * wildcards, dates on the bounds), these look like the data: Australian grants with a
 * topic, a state or `national`, an amount, a closing date and a 400-character
 * description; searches such as "open grants in VIC or national about health, closing
 * after June". Only the seeded generator (`rng`) is taken from the test support.
 *
 * The same seed gives the same grants, the same filters and (changes.ts) the same changes,
 * so the bench's two phases see identical events.
 */
import { foldCase, matches, parseFilter, viewTopic, type FilterFields } from '../../src/domain/filter.js';
import { VIC_OUTCOME_DOMAINS, type GrantStatus, type Location } from '../../src/domain/grant.js';
import { rng } from '../../test/support/random-grants.js';

/** A seeded grant: the filter fields and the rest of the row the bench inserts. */
export interface BenchGrant extends FilterFields {
  externalId: string;
  url: string;
  minAmount: number | null;
  openDate: string | null;
  categories: string[];
}

type Weighted<T> = readonly (readonly [T, number])[];

/** Topics of grant programs, roughly by how common they are, with their Victorian domain and agency. */
export const TOPICS: readonly { word: string; weight: number; domain: string | null; agency: string }[] = [
  ['Community', 10, 'community', 'Department of Social Services'],
  ['Health', 9, 'health', 'Department of Health and Aged Care'],
  ['Innovation', 8, null, 'Department of Industry, Science and Resources'],
  ['Arts', 7, 'community', 'Creative Australia'],
  ['Education', 7, 'education', 'Department of Education'],
  ['Sport', 6, 'community', 'Sport Australia'],
  ['Environment', 6, null, 'Department of Climate Change, Energy, the Environment and Water'],
  ['Agriculture', 5, null, 'Department of Agriculture, Fisheries and Forestry'],
  ['Export', 5, null, 'Austrade'],
  ['Mental Health', 4, 'health', 'Department of Health and Aged Care'],
  ['Youth', 4, 'community', 'Department of Social Services'],
  ['Tourism', 4, null, 'Austrade'],
  ['Research', 4, 'education', 'Australian Research Council'],
  ['Water', 3, null, 'Department of Climate Change, Energy, the Environment and Water'],
  ['Energy', 3, null, 'Australian Renewable Energy Agency'],
  ['Housing', 3, 'community', 'Department of Social Services'],
  ['Digital', 3, null, 'Department of Industry, Science and Resources'],
  ['Disability', 3, 'health', 'Department of Social Services'],
  ['Indigenous', 3, 'community', 'National Indigenous Australians Agency'],
  ['Training', 3, 'education', 'Department of Employment and Workplace Relations'],
  ['Music', 2, 'community', 'Creative Australia'],
  ['Heritage', 2, 'community', 'Department of Climate Change, Energy, the Environment and Water'],
  ['Drought', 2, null, 'Department of Agriculture, Fisheries and Forestry'],
  ['Bushfire Recovery', 2, 'community', 'National Emergency Management Agency'],
  ['Aged Care', 2, 'health', 'Department of Health and Aged Care'],
  ['Manufacturing', 2, null, 'Department of Industry, Science and Resources'],
  ['Women', 2, 'community', 'Office for Women'],
  ['Multicultural', 2, 'community', 'Department of Home Affairs'],
  ['Scholarships', 1, 'education', 'Department of Education'],
  ['Volunteering', 1, 'community', 'Department of Social Services'],
].map(([word, weight, domain, agency]) => ({ word: word as string, weight: weight as number, domain: domain as string | null, agency: agency as string }));

const STATES: Weighted<Location> = [['NSW', 30], ['VIC', 26], ['QLD', 20], ['WA', 10], ['SA', 7], ['TAS', 2], ['ACT', 2], ['NT', 1]];
export const STATUS_WEIGHTS: Weighted<GrantStatus> = [['open', 45], ['upcoming', 15], ['closed', 35], ['draft', 5]];
export const AMOUNT_LEVELS: Weighted<number> = [[2_000, 4], [5_000, 8], [10_000, 10], [20_000, 10], [25_000, 6], [50_000, 10], [100_000, 8], [150_000, 4], [250_000, 5], [500_000, 4], [1_000_000, 3], [2_000_000, 2], [5_000_000, 1]];
const PREFIXES = ['', '', 'Regional', 'Local', 'National', 'Strengthening', 'Future', 'Building Better', 'Thriving'];
const KINDS = ['Grants', 'Grant Program', 'Fund', 'Program', 'Initiative', 'Infrastructure Fund', 'Partnerships', 'Round 3'];
const AUDIENCES = ['community organisations', 'small businesses', 'local councils', 'schools', 'not-for-profit organisations', 'researchers', 'primary producers', 'Aboriginal community-controlled organisations', 'sporting clubs', 'individual artists'];
const FILLER = [
  'Projects must be completed within 18 months of the funding agreement.',
  'Applicants must hold an ABN and be registered for GST where required.',
  'Co-contributions in cash or in kind are encouraged but not required.',
  'Funding is available for capital works, equipment and program delivery costs.',
  'Priority is given to projects that benefit disadvantaged communities.',
  'Applications are assessed against the merit criteria in the guidelines.',
];
/** Days from 2026-01-01 over which closing dates spread (to 2027-06-30). */
const DATE_SPAN = 545;

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A seeded source of choices. */
export class Dice {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = rng(seed);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  weighted<T>(items: Weighted<T>): T {
    let r = this.random() * items.reduce((s, [, w]) => s + w, 0);
    for (const [item, w] of items) if ((r -= w) < 0) return item;
    return items[items.length - 1]![0];
  }
  topic() {
    return this.weighted(TOPICS.map((t) => [t, t.weight] as const));
  }
  state(): Location {
    return this.weighted(STATES);
  }
  date(): string {
    return addDays('2026-01-01', this.int(DATE_SPAN));
  }
}

/** The locations of a grant: `national` for a quarter, else one state, sometimes two. */
export function locationsOf(dice: Dice): Location[] {
  if (dice.chance(0.25)) return ['national'];
  const first = dice.state();
  const second = dice.chance(0.15) ? dice.state() : first;
  return [...new Set([first, second])].sort();
}

/** A program's description, about `chars` long, naming its topic and sometimes a second one. */
export function describe(dice: Dice, title: string, topic: string, locations: readonly string[], chars: number): string {
  const where = locations.includes('national') ? 'across Australia' : `in ${locations.join(' and ')}`;
  let text = `The ${title} supports ${dice.pick(AUDIENCES)} ${where} to deliver ${topic.toLowerCase()} projects that make a lasting difference.`;
  if (dice.chance(0.35)) text += ` Projects combining ${topic.toLowerCase()} with ${dice.topic().word.toLowerCase()} outcomes are welcome.`;
  for (let i = dice.int(FILLER.length); text.length < chars; i++) text += ` ${FILLER[i % FILLER.length]}`;
  return text.slice(0, text.lastIndexOf(' ', chars) > 0 ? text.lastIndexOf(' ', chars) : chars);
}

export function titleOf(dice: Dice, topic: string): string {
  return [dice.pick(PREFIXES), topic, dice.pick(KINDS)].filter(Boolean).join(' ');
}

/** A maximum amount and a minimum at most that (either may be missing). */
export function amounts(dice: Dice): { minAmount: number | null; maxAmount: number | null } {
  if (dice.chance(0.08)) return { minAmount: null, maxAmount: null };
  const maxAmount = dice.weighted(AMOUNT_LEVELS);
  return { maxAmount, minAmount: dice.chance(0.5) ? null : Math.round(maxAmount / dice.pick([2, 5, 10])) };
}

function sourceOf(dice: Dice, locations: readonly Location[]): string {
  const own: Partial<Record<Location, string>> = { VIC: 'vic-gov-au', NSW: 'nsw-gov-au', QLD: 'qld-gov-au' };
  const local = own[locations[0]!];
  if (local && dice.chance(0.7)) return local;
  return dice.chance(0.65) ? 'grantconnect' : 'business-gov-au';
}

/** `count` grants, the same ones for the same seed. */
export function seedGrants(seed: number, count: number, descriptionChars: number): BenchGrant[] {
  const dice = new Dice(seed);
  return Array.from({ length: count }, (_, i) => {
    const topic = dice.topic();
    const locations = locationsOf(dice);
    const title = titleOf(dice, topic.word);
    const closeDate = dice.chance(0.08) ? null : dice.date();
    const domain = locations.includes('VIC') || dice.chance(0.1) ? (dice.chance(0.85) ? (topic.domain ?? dice.pick(VIC_OUTCOME_DOMAINS)) : null) : null;
    return {
      externalId: `v${String(i).padStart(6, '0')}`,
      source: sourceOf(dice, locations),
      title,
      description: describe(dice, title, topic.word, locations, descriptionChars),
      agency: topic.agency,
      url: `https://grants.example.gov.au/programs/${i}`,
      ...amounts(dice),
      openDate: closeDate === null ? null : addDays(closeDate, -30 - dice.int(90)),
      closeDate,
      status: dice.weighted(STATUS_WEIGHTS),
      categories: [topic.word.toLowerCase()],
      locations,
      vicOutcomeDomain: domain,
    };
  });
}

/** One saved search as its parameters: the clauses people combine, each optional. */
function search(dice: Dice): [string, string][] {
  const params: [string, string][] = [];
  if (dice.chance(0.75)) params.push(['status', dice.weighted([['open', 65], ['open,upcoming', 30], ['upcoming', 5]])]);
  const location = dice.chance(0.7) ? [dice.state(), ...(dice.chance(0.5) ? ['national'] : [])] : undefined;
  if (location) params.push(['location', location.join(',')]);
  const word = dice.chance(0.65) ? dice.topic().word : undefined;
  if (word) params.push(['q', dice.pick([word.toLowerCase(), word.toLowerCase(), word])]);
  if (!word && location?.includes('VIC') && dice.chance(0.5)) params.push(['domain', dice.pick(VIC_OUTCOME_DOMAINS)]);
  if (dice.chance(0.2)) params.push(['minAmount', String(dice.pick([5_000, 10_000, 20_000, 50_000, 100_000]))]);
  if (dice.chance(0.3)) params.push(['closesAfter', addDays('2026-01-01', 30 + dice.int(270))]);
  if (dice.chance(0.1)) params.push(['closesBefore', addDays('2026-06-01', dice.int(300))]);
  if (dice.chance(0.08)) params.push(['source', dice.pick(['grantconnect', 'vic-gov-au', 'nsw-gov-au', 'qld-gov-au', 'business-gov-au'])]);
  return params;
}

/** What `savedSearches` accepts: a share of the catalogue "a few percent" wide. */
export const SELECTIVITY = { min: 0.005, max: 0.08 };
/**
 * Longest canonical topic accepted. The load clients tell a grant frame from the others by
 * size (GRANT_FRAME_MIN, 200 bytes): a `subscribed` frame with a longer topic would pass
 * for one.
 */
export const MAX_TOPIC_CHARS = 110;

export interface SavedSearch {
  topic: string;
  /** Share of the seeded catalogue it matches. */
  share: number;
}

/**
 * `count` distinct saved searches (canonical topics), each matching between
 * SELECTIVITY.min and SELECTIVITY.max of `grants`, the same ones for the same seed.
 */
export function savedSearches(seed: number, count: number, grants: readonly BenchGrant[]): SavedSearch[] {
  const dice = new Dice(seed);
  const out = new Map<string, number>();
  // Case folding of the catalogue's texts, once for every candidate tried.
  const folded = new Map<string, string>();
  const fold = (text: string) => folded.get(text) ?? (folded.set(text, foldCase(text)), folded.get(text)!);
  for (let attempt = 0; out.size < count; attempt++) {
    if (attempt > count * 200) throw new Error(`only ${out.size} of ${count} saved searches found within ${JSON.stringify(SELECTIVITY)}`);
    const params = search(dice);
    if (params.length < 2) continue;
    const filter = parseFilter(params);
    const topic = viewTopic(filter);
    if (out.has(topic) || topic.length > MAX_TOPIC_CHARS) continue;
    const share = grants.filter((g) => matches(filter, g, fold)).length / grants.length;
    if (share >= SELECTIVITY.min && share <= SELECTIVITY.max) out.set(topic, share);
  }
  return [...out].map(([topic, share]) => ({ topic, share }));
}
