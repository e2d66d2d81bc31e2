/**
 * The edits the views bench commits: what happens to real grant records, each one moving a
 * field that filters read, so filtered views see grants enter, change within and leave
 * them. Every edit really changes the row (an UPDATE that changes nothing raises no
 * version and no event, src/db/migrations/001_grants.ts).
 */
import { VIC_OUTCOME_DOMAINS, type Location } from '../../src/domain/grant.js';
import { STATUS_WEIGHTS, TOPICS, addDays, amounts, describe, locationsOf, titleOf, type BenchGrant, type Dice } from './corpus.js';

/** Table columns an edit may set, with the grant field each comes from. */
export const COLUMNS = {
  status: 'status',
  close_date: 'closeDate',
  max_amount: 'maxAmount',
  min_amount: 'minAmount',
  locations: 'locations',
  title: 'title',
  description: 'description',
  vic_outcome_domain: 'vicOutcomeDomain',
} as const satisfies Record<string, keyof BenchGrant>;
export type Column = keyof typeof COLUMNS;

export type EditKind = 'status' | 'closeDate' | 'amount' | 'locations' | 'title' | 'domain' | 'description';
/** How often each kind of edit happens (status moves and new closing dates lead). */
const KINDS: readonly (readonly [EditKind, number])[] = [['status', 30], ['closeDate', 20], ['amount', 15], ['locations', 15], ['title', 10], ['domain', 5], ['description', 5]];

export interface Edit {
  kind: EditKind;
  /** The grant after the edit. */
  after: BenchGrant;
  /** Columns to set, each taking its value from `after`. */
  columns: Column[];
}

/** One edit of `g` (unchanged), a different row from it in at least one filter field. */
export function edit(dice: Dice, g: BenchGrant): Edit {
  for (;;) {
    const kind = dice.weighted(KINDS);
    const e = tryEdit(dice, g, kind);
    const differs = (c: Column) => c !== 'min_amount' && JSON.stringify(e!.after[COLUMNS[c]]) !== JSON.stringify(g[COLUMNS[c]]);
    if (e?.columns.some(differs)) return e;
  }
}

function tryEdit(dice: Dice, g: BenchGrant, kind: EditKind): Edit | undefined {
  const after = { ...g };
  switch (kind) {
    case 'status':
      after.status = dice.weighted(STATUS_WEIGHTS.filter(([s]) => s !== g.status));
      return { kind, after, columns: ['status'] };
    case 'closeDate':
      // Extended or brought forward; sometimes made ongoing, or given a date again.
      after.closeDate = g.closeDate === null ? dice.date() : dice.chance(0.05) ? null : addDays(g.closeDate, (dice.chance(0.7) ? 1 : -1) * (7 + dice.int(84)));
      return { kind, after, columns: ['close_date'] };
    case 'amount': {
      const a = amounts(dice);
      if (a.maxAmount === g.maxAmount) return undefined;
      Object.assign(after, a);
      return { kind, after, columns: ['max_amount', 'min_amount'] };
    }
    case 'locations': {
      const states = g.locations.filter((l) => l !== 'national');
      const roll = dice.random();
      if (roll < 0.4 && states.length > 0) after.locations = sorted([...states, dice.state()]); // another state joins
      else if (roll < 0.6 && g.locations.length > 1) after.locations = g.locations.filter((_, i) => i !== dice.int(g.locations.length)); // one drops out
      else if (roll < 0.75) after.locations = g.locations.includes('national') ? locationsOf(dice) : ['national']; // made national, or no longer
      else after.locations = locationsOf(dice); // re-targeted
      return { kind, after, columns: ['locations'] };
    }
    case 'title':
      after.title = titleOf(dice, dice.topic().word);
      return { kind, after, columns: ['title'] };
    case 'domain':
      after.vicOutcomeDomain = dice.chance(0.2) ? null : dice.pick(VIC_OUTCOME_DOMAINS);
      return { kind, after, columns: ['vic_outcome_domain'] };
    case 'description': {
      const topic = TOPICS.find((t) => g.title.includes(t.word))?.word ?? dice.topic().word;
      after.description = describe(dice, g.title, topic, g.locations, g.description?.length ?? 400);
      return { kind, after, columns: ['description'] };
    }
  }
}

const sorted = (ls: Location[]) => [...new Set(ls)].sort();
