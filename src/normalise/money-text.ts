/**
 * One printed amount text read into what it says: an exact figure, a maximum, a minimum,
 * a range, nothing known yet, or an error. Used by money.ts for `amount`, `minAmount` and
 * `maxAmount`.
 *
 * # How a text is read
 * The figures are found first (`$5,000`, `A$1M`, `$1.5m`, `$20k`, `$10 000`, `AUD 5000`),
 * then what the words right before and after each one say of it (`up to`, `maximum value
 * of`, `a minimum of`, `over`, `+`, `or more`), then how two figures relate: a range
 * (`$5,000 - $50,000`, `between ... and ...`), a minimum and a maximum in either order
 * (`maximum $50,000, minimum $5,000`), or alternatives (`$3,000 for employing businesses or
 * $1,000 for others`). Qualifiers and clauses around them (`per annum`, `per application`,
 * `(GST exclusive)`, `for a project`, `over 3 years`, `50% of costs`) do not change the
 * figure. A text with no figure is null when it says the amount is not known yet
 * (`Not Specified yet`, `Varies`, unknown.ts) and an error otherwise (`lots of money`).
 */
import { clip, decodeEntities, plainText } from './text.js';
import { saysNotKnown } from './unknown.js';

export type Parsed =
  | { kind: 'exact' | 'min' | 'max' | 'range'; min: number | null; max: number | null; currency?: string }
  | { kind: 'none' }
  | { kind: 'error'; message: string };

type Marker = 'min' | 'max' | undefined;

interface Figure {
  value: number;
  /** Multiplier printed after the number (k, m, million), if any. */
  unit: number | undefined;
  currency: string | undefined;
  /** Printed without a currency sign or code ("2 million" in "$1 - 2 million"). */
  bare: boolean;
  start: number;
  end: number;
}

/** Longest amount text read ("Up to $100,000 for organisers of cancelled or postponed major public events" is 75). */
const MAX_AMOUNT_TEXT = 300;
const UNITS: Record<string, number> = { k: 1e3, thousand: 1e3, m: 1e6, mil: 1e6, mill: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9 };
export const CURRENCY_WORDS: Record<string, string> = { aud: 'AUD', 'a$': 'AUD', 'au$': 'AUD', usd: 'USD', 'us$': 'USD', nzd: 'NZD', 'nz$': 'NZD', eur: 'EUR', gbp: 'GBP' };

/** A currency sign or code, a number as printed (thousands by comma or, after $, space), a unit, a percent sign. */
const FIGURE = /(au\$|a\$|us\$|nz\$|\$|\b(?:aud|usd|nzd|eur|gbp)\b)?\s*(\d[\d,.]*)(\s*(?:k|thousand|m|mil|mill|million|b|bn|billion)\b)?(\s*%|\s*per ?cent\b)?/g;
const NUMBER = /^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$/;
const SIMPLE = /^\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?: ?[-–] ?\$((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?))?$/;
const MARKER_BEFORE =
  /\b(?:(not (?:to )?exceed(?:ing)?|up to|maximum|max|no more than|capped at|cap of|limit of|less than|to a maximum of)|(minimum|min|at least|from|over|exceeding|more than|above|starting at|starting from|greater than|in excess of))\b/g;
const MAX_AFTER = /^\s*(?:maximum|max|or less|and under|or under|and below|cap)\b/;
const MIN_AFTER = /^\s*(?:\+|(?:or more|and above|and over|or above|or over|minimum|min)\b)/;
const CONNECTOR = /^(?:-+|–|—|to|and|&|through|until)(?:\s|$)/;
/** Words a text of bare numbers may hold besides them ("Up to 5000 per year"). */
const PLAIN_WORDS = new Set(
  'up to maximum max minimum min from between and or over at least per year annum project applicant application organisation organization grant grants each total approx approximately about around gst excl excluding incl including inclusive exclusive plus dollars a of the is'.split(' '),
);

/** "$5,000", "AUD 5000", "Up to $20 million", "$5,000 - $50,000", "From $1,000", "$10k+", "maximum value of $5,000 per annum". */
export function parseAmountText(printedValue: string | number): Parsed {
  if (typeof printedValue === 'number') {
    if (!Number.isFinite(printedValue)) return { kind: 'error', message: 'must be a finite number' };
    return { kind: 'exact', min: printedValue, max: printedValue };
  }
  // A bound before any regex work: an amount field is a phrase, not a page.
  if (printedValue.length > MAX_AMOUNT_TEXT) return { kind: 'error', message: `is not an amount (longer than ${MAX_AMOUNT_TEXT} characters)` };
  let text = plainText(decodeEntities(printedValue)).toLowerCase();
  // Fast path for the commonest shapes, "$5,000" and "$5,000 - $50,000" (ingest reads every record).
  const simple = SIMPLE.exec(text);
  if (simple) {
    const low = Number(simple[1]!.replace(/,/g, ''));
    if (simple[2] === undefined) return { kind: 'exact', min: low, max: low };
    return { kind: 'range', min: low, max: Number(simple[2].replace(/,/g, '')) };
  }
  // A value printed whole in brackets: "($2000 each, regardless of the project costs)".
  if (/^\([^()]*\)$/.test(text)) text = text.slice(1, -1).trim();
  // "$20,000 (maximum)": a bracketed marker word speaks of the figure.
  text = text.replace(/\((maximum|max|minimum|min)\)/g, ' $1 ');
  // Bracketed asides qualify the figure; a figure inside one is not the grant's ("(where the total cost is more than $500,000)").
  for (let before = ''; before !== text; ) [before, text] = [text, text.replace(/\([^()]*\)/g, ' ')];
  // "$10 000": a space as the thousands separator, only right after a currency sign.
  text = text.replace(/(\$\s?\d{1,3})((?: \d{3})+)(?![\d,.])/g, (_m, head: string, groups: string) => head + groups.replace(/ /g, ','));
  text = text.replace(/\s+/g, ' ').trim();
  if (/^[-−]\s*(?:[a-z]{0,3}\$|\$)?\s*\d/.test(text) || /\$\s*[-−]\s*\d/.test(text) || /^minus\b/.test(text)) return { kind: 'error', message: 'must not be negative' };

  const found = figures(text);
  if ('message' in found) return { kind: 'error', message: found.message };
  let list = found;
  const signed = list.filter((f) => !f.bare);
  if (signed.length > 0) {
    // Bare numbers beside printed amounts are not amounts ("over 3 years"), except the far end of a range ("$1 - 2 million").
    list = list.filter((f, i) => !f.bare || (i > 0 && !list[i - 1]!.bare && CONNECTOR.test(text.slice(list[i - 1]!.end, f.start).trim() + ' ')));
  } else if (list.length > 0) {
    const words = removeFigures(text, list).match(/[a-z]+/g) ?? [];
    const stray = words.find((w) => !PLAIN_WORDS.has(w));
    if (stray) return { kind: 'error', message: `"${clip(printedValue)}" is not an amount` };
  }
  if (list.length === 0) return saysNotKnown(text, 'amount') ? { kind: 'none' } : { kind: 'error', message: `"${clip(printedValue)}" is not an amount` };

  const currencies = [...new Set(list.map((f) => f.currency).filter((c): c is string => c !== undefined))];
  if (currencies.length > 1) return { kind: 'error', message: `"${clip(printedValue)}" mixes currencies (${currencies.join(', ')})` };
  const cur = currencies[0] ? { currency: currencies[0] } : {};
  const markers = list.map((f, i) => markerOf(text, list, i));
  if (markers.some((m) => m === 'conflict')) return { kind: 'error', message: `"${clip(printedValue)}" gives both "up to" and "or more"` };
  const marked = markers as Marker[];

  if (list.length === 1) {
    const f = list[0]!;
    const value = f.value * (f.unit ?? 1);
    if (marked[0] === 'max') return { kind: 'max', min: null, max: value, ...cur };
    if (marked[0] === 'min') return { kind: 'min', min: value, max: null, ...cur };
    return { kind: 'exact', min: value, max: value, ...cur };
  }
  if (list.length === 2) {
    const [a, b] = list as [Figure, Figure];
    const between = text.slice(a.end, b.start).trim();
    // A minimum and a maximum, in either order: "a minimum of $2 million up to a maximum of $30 million".
    if (marked[0] && marked[1] && marked[0] !== marked[1]) {
      const [low, high] = marked[0] === 'min' ? [a, b] : [b, a];
      return { kind: 'range', min: low.value * (low.unit ?? 1), max: high.value * (high.unit ?? 1), ...cur };
    }
    if (CONNECTOR.test(between + ' ') && !/\bor\b/.test(between)) {
      if (marked[0] === 'max') return { kind: 'error', message: `"${clip(printedValue)}" gives "up to" before a range` };
      // "$1 - 2 million": a unit printed once applies to both ends, when the low end reads as short for it
      // (not "$50,000 to $1 million").
      const shared = a.unit === undefined && a.value <= b.value ? b.unit : undefined;
      return { kind: 'range', min: a.value * (a.unit ?? shared ?? 1), max: b.value * (b.unit ?? 1), ...cur };
    }
  }
  return alternatives(text, list, marked, printedValue, cur);
}

/** Figures joined by "or": "$3,000 for employing businesses or $1,000 for non-employing businesses". */
function alternatives(text: string, list: Figure[], marked: Marker[], printed: string, cur: { currency?: string }): Parsed {
  const joinedByOr = list.slice(1).every((f, i) => /\bor\b|,/.test(text.slice(list[i]!.end, f.start)));
  const kinds = new Set(marked);
  if (!joinedByOr || kinds.size > 1) return { kind: 'error', message: `"${clip(printed)}" gives ${list.length} amounts; print one, or a range` };
  const values = list.map((f) => f.value * (f.unit ?? 1));
  const [low, high] = [Math.min(...values), Math.max(...values)];
  if (marked[0] === 'max') return { kind: 'max', min: null, max: high, ...cur };
  if (marked[0] === 'min') return { kind: 'min', min: low, max: null, ...cur };
  return { kind: 'range', min: low, max: high, ...cur };
}

function figures(text: string): Figure[] | { message: string } {
  const out: Figure[] = [];
  for (const m of text.matchAll(FIGURE)) {
    if (m[4]) continue; // a percentage
    const digits = m[2]!.replace(/[.,]+$/, '');
    if (!NUMBER.test(digits)) return { message: `"${clip(m[0].trim())}" is not a number (expected e.g. 5,000 or 5000.50)` };
    const value = Number(digits.replace(/,/g, ''));
    const sign = m[1];
    const start = m.index;
    out.push({
      value,
      unit: m[3] ? UNITS[m[3].trim()] : undefined,
      currency: sign && sign !== '$' ? CURRENCY_WORDS[sign] : undefined,
      bare: !sign,
      start,
      end: start + m[0].length - (m[2]!.length - digits.length),
    });
  }
  return out;
}

/** What the words next to figure `i` say of it: a maximum, a minimum, neither, or both (a conflict). */
function markerOf(text: string, list: Figure[], i: number): Marker | 'conflict' {
  const f = list[i]!;
  const before = text.slice(i > 0 ? list[i - 1]!.end : 0, f.start);
  const after = text.slice(f.end, i + 1 < list.length ? list[i + 1]!.start : text.length);
  let prefix: Marker;
  for (const m of before.matchAll(MARKER_BEFORE)) prefix = m[1] ? 'max' : 'min';
  const suffix: Marker = MAX_AFTER.test(after) ? 'max' : MIN_AFTER.test(after) ? 'min' : undefined;
  if (prefix && suffix && prefix !== suffix) return 'conflict';
  return prefix ?? suffix;
}

function removeFigures(text: string, list: Figure[]): string {
  let out = '';
  let at = 0;
  for (const f of list) {
    out += `${text.slice(at, f.start)} `;
    at = f.end;
  }
  return out + text.slice(at);
}
