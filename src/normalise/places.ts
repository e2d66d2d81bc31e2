/**
 * Places: reads `locations` (a list, or one printed text such as "NSW, VIC and QLD",
 * "Regional Victoria", "Greater Sydney and the Central Coast") into the Grant's state and
 * territory codes, and `vicOutcomeDomain` into the Victorian outcome domain enumeration.
 *
 * # How a location is read
 * What follows "excluding", "except" or "outside" is dropped (places left out). The rest
 * is cut into names at , ; / | & ( ) and the words "and" and "or". Each name is
 * looked up in the gazetteer (gazetteer.ts: states, capitals, well-known regions); a name
 * not found as printed loses qualifying words from its ends ("regional", "metropolitan",
 * "greater", "the", "local government area") until it is found. A name made only of such
 * words ("regional areas", "statewide") adds no state; one that says it is not known yet
 * ("TBA") adds none either. A name that is none of these ("Atlantis", "CA") rejects.
 */
import type { z } from 'zod';
import { LOCATIONS, VIC_OUTCOME_DOMAINS, type Location, type VicOutcomeDomain } from '../domain/grant.js';
import type { Fail } from './fail.js';
import { PLACES, QUALIFIERS } from './gazetteer.js';
import { clip, decodeEntities, plainText } from './text.js';
import { saysNotKnown } from './unknown.js';

type Code = z.infer<typeof Location>;

/** Longest location text read; a bound before any regex or lookup work. */
const MAX_TEXT = 500;
/** Most names one record may list (a text split into more is a paragraph, not a list). */
const MAX_NAMES = LOCATIONS.length * 4;

/** The codes of one printed name; [] when it names no state; undefined when it is not a place. */
export function readPlace(name: string): readonly Code[] | undefined {
  const key = plainText(name).toLowerCase().replace(/\.$/, '');
  const found = knownPlace(key);
  if (found) return found;
  return key === '' || saysNotKnown(key) || /^(?:various|varies|multiple|several|other|others)$/.test(key) ? [] : undefined;
}

/** A lower-case name looked up as printed, then without qualifying words at its ends; [] when only those remain. */
function knownPlace(key: string): readonly Code[] | undefined {
  let words = key.split(' ');
  while (words.length > 0) {
    const found = PLACES.get(words.join(' '));
    if (found) return found;
    if (QUALIFIERS.has(words[0]!)) words = words.slice(1);
    else if (QUALIFIERS.has(words[words.length - 1]!)) words = words.slice(0, -1);
    else return undefined;
  }
  return [];
}

/** States and territories by code, name or region, or national; deduplicated, in the enumeration's order. */
export function normaliseLocations(value: string | string[] | null | undefined, fail: Fail): Code[] {
  if (value == null) return [];
  const list = Array.isArray(value);
  if (list && value.length > MAX_NAMES) {
    fail('locations', `has ${value.length} entries; at most ${MAX_NAMES}`);
    return [];
  }
  const texts = list ? value : [value];
  const names: { name: string; path: string }[] = [];
  texts.forEach((text, i) => {
    const path = list ? `locations.${i}` : 'locations';
    if (text.length > MAX_TEXT) {
      fail(path, `must be at most ${MAX_TEXT} characters`);
      return;
    }
    // What follows "excluding" or "outside" names places left out: "Victoria excluding Melbourne".
    const whole = plainText(decodeEntities(text)).split(/\b(?:except|excluding|excl\.?|outside|other than|not including|but not)\b/i)[0]!;
    // "All states and territories" would be cut at "and"; a known whole name is looked up first.
    const parts = knownPlace(whole.toLowerCase()) ? [whole] : whole.split(/[,;/|&()]|\band\b|\bor\b/i);
    for (const part of parts) if (plainText(part).length > 0) names.push({ name: part, path });
  });
  if (names.length > MAX_NAMES) {
    fail('locations', `has ${names.length} entries; at most ${MAX_NAMES}`);
    return [];
  }
  const found = new Set<Code>();
  for (const { name, path } of names) {
    const codes = readPlace(name);
    if (codes) codes.forEach((c) => found.add(c));
    else fail(path, `"${clip(plainText(name))}" is not an Australian state, territory or region, or national`);
  }
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
