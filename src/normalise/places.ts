/**
 * Places: reads `locations` (a list, or one printed text such as "NSW, VIC and QLD") into
 * the Grant's state and territory codes, and `vicOutcomeDomain` into the Victorian outcome
 * domain enumeration. Both are enumerations; a name outside them rejects.
 */
import type { z } from 'zod';
import { LOCATIONS, VIC_OUTCOME_DOMAINS, type Location, type VicOutcomeDomain } from '../domain/grant.js';
import type { Fail } from './fail.js';
import { clip, decodeEntities, plainText } from './text.js';

const LOCATION_WORDS: Record<string, z.infer<typeof Location>> = {
  act: 'ACT', 'australian capital territory': 'ACT',
  nsw: 'NSW', 'new south wales': 'NSW',
  nt: 'NT', 'northern territory': 'NT',
  qld: 'QLD', queensland: 'QLD',
  sa: 'SA', 'south australia': 'SA',
  tas: 'TAS', tasmania: 'TAS',
  vic: 'VIC', victoria: 'VIC',
  wa: 'WA', 'western australia': 'WA',
  national: 'national', nationwide: 'national', 'australia-wide': 'national', 'australia wide': 'national', australia: 'national',
  'all states': 'national', 'all states and territories': 'national', 'all of australia': 'national',
};

/** States and territories by code or name, or national; deduplicated. */
export function normaliseLocations(value: string | string[] | null | undefined, fail: Fail): z.infer<typeof Location>[] {
  if (value == null) return [];
  const items = (Array.isArray(value) ? value : value.split(/[,;/|]|\band\b|&/i)).map((s) => plainText(decodeEntities(s)).replace(/\.$/, '')).filter((s) => s.length > 0);
  // "All states and territories" is split above; look the whole text up first.
  if (!Array.isArray(value)) {
    const whole = LOCATION_WORDS[plainText(value).toLowerCase()];
    if (whole) return [whole];
  }
  if (items.length > LOCATIONS.length * 2) {
    fail('locations', `has ${items.length} entries; at most ${LOCATIONS.length * 2}`);
    return [];
  }
  const found = new Set<z.infer<typeof Location>>();
  items.forEach((item, i) => {
    const code = LOCATION_WORDS[item.toLowerCase()];
    if (code) found.add(code);
    else fail(Array.isArray(value) ? `locations.${i}` : 'locations', `"${clip(item)}" is not an Australian state or territory, or national`);
  });
  // Stored in the enumeration's order, so a re-scrape listing them differently changes nothing.
  return LOCATIONS.filter((code) => found.has(code));
}

/** One of VIC_OUTCOME_DOMAINS, or null when absent. */
export function normaliseVicOutcomeDomain(value: string | null | undefined, fail: Fail): z.infer<typeof VicOutcomeDomain> | null {
  if (value == null || value.trim() === '') return null;
  // Strict: case and surrounding space only; a near miss ("Healthcare") is rejected, not guessed.
  const key = value.trim().toLowerCase();
  return (VIC_OUTCOME_DOMAINS as readonly string[]).includes(key)
    ? (key as z.infer<typeof VicOutcomeDomain>)
    : fail('vicOutcomeDomain', `"${clip(value)}" is not a Victorian outcome domain (${VIC_OUTCOME_DOMAINS.join(', ')})`);
}
