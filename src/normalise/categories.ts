/**
 * Categories: reads `categories` (a list, or one text separated by , ; or |) into distinct
 * plain-text labels. Free text, not an enumeration: sites name their own categories; only
 * their number and length are bounded (LIMITS).
 */
import { LIMITS } from '../domain/scraped.js';
import type { Fail } from './fail.js';
import { decodeEntities, plainText } from './text.js';

/**
 * Labels in the order printed, markup stripped and entities decoded, empty and repeated ones
 * dropped. More than LIMITS.categories entries, or one longer than LIMITS.category, rejects.
 */
export function normaliseCategories(value: string | string[] | null | undefined, fail: Fail): string[] {
  if (value == null) return [];
  const items = Array.isArray(value) ? value : value.split(/[,;|]/);
  if (items.length > LIMITS.categories) {
    fail('categories', `must have at most ${LIMITS.categories} entries (got ${items.length})`);
    return [];
  }
  const out: string[] = [];
  items.forEach((item, i) => {
    const text = plainText(decodeEntities(item.replace(/<\/?[a-z!][^>]*>/gi, ' ')));
    if (text.length > LIMITS.category) fail(Array.isArray(value) ? `categories.${i}` : 'categories', `must be at most ${LIMITS.category} characters each`);
    else if (text.length > 0 && !out.includes(text)) out.push(text);
  });
  return out;
}
