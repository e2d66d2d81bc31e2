/**
 * Amounts and currency: reads `amount`, `minAmount`, `maxAmount` and `currency` as printed
 * ("$5,000", "Up to $20 million", "$5,000 - $50,000", "AUD 5000") and reconciles them into
 * one minimum, one maximum and an ISO 4217 code. A figure that needs a guess rejects.
 */
import type { z } from 'zod';
import { MAX_AMOUNT } from '../domain/grant.js';
import type { RawGrantRecord } from '../domain/scraped.js';
import type { Fail } from './fail.js';
import { decodeEntities, plainText } from './text.js';

/** What a site prints when there is no amount to give. */
const NO_VALUE = /^(|-|–|n\/?a|nil|none|tba|tbc|tbd|varies|various|not (applicable|specified|stated|available)|see (guidelines|website|details))$/i;

const UNITS: Record<string, number> = { k: 1e3, thousand: 1e3, m: 1e6, mil: 1e6, mill: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9 };
const CURRENCY_WORDS: Record<string, string> = { aud: 'AUD', 'a$': 'AUD', 'au$': 'AUD', usd: 'USD', 'us$': 'USD', nzd: 'NZD', 'nz$': 'NZD', eur: 'EUR', gbp: 'GBP' };

type Parsed = { kind: 'exact' | 'min' | 'max' | 'range'; min: number | null; max: number | null; currency?: string } | { kind: 'none' } | { kind: 'error'; message: string };

interface Money {
  value: number;
  unit: number | undefined;
}

const MONEY = /^\$?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*(k|thousand|m|mil|mill|million|b|bn|billion)?$/;

function parseMoney(text: string): Money | undefined {
  const m = MONEY.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]!.replace(/,/g, ''));
  return Number.isFinite(value) ? { value, unit: m[2] ? UNITS[m[2]] : undefined } : undefined;
}

/** "$5,000", "AUD 5000", "Up to $20 million", "$5,000 - $50,000", "From $1,000", "$10k+". */
export function parseAmountText(printedValue: string | number): Parsed {
  if (typeof printedValue === 'number') {
    if (!Number.isFinite(printedValue)) return { kind: 'error', message: 'must be a finite number' };
    return { kind: 'exact', min: printedValue, max: printedValue };
  }
  let text = plainText(decodeEntities(printedValue)).toLowerCase();
  if (NO_VALUE.test(text)) return { kind: 'none' };
  // Fast path for the common shapes: "$5,000" and "$5,000 - $50,000".
  const plain = parseMoney(text);
  if (plain) {
    const value = plain.value * (plain.unit ?? 1);
    return { kind: 'exact', min: value, max: value };
  }
  const simpleRange = /^(\$?[\d,.]+\s*[a-z]*) ?[-–] ?(\$?[\d,.]+\s*[a-z]*)$/.exec(text);
  if (simpleRange) {
    const low = parseMoney(simpleRange[1]!);
    const high = parseMoney(simpleRange[2]!);
    if (low && high) return { kind: 'range', min: low.value * (low.unit ?? high.unit ?? 1), max: high.value * (high.unit ?? 1) };
  }
  let currency: string | undefined;
  text = text.replace(/(au\$|a\$|us\$|nz\$|\b(?:aud|usd|nzd|eur|gbp)\b)/g, (word) => {
    currency ??= CURRENCY_WORDS[word];
    return ' ';
  });
  // Qualifiers that do not change the figure.
  text = text
    .replace(/\((?:[^()]*)\)/g, ' ')
    .replace(/\b(per (year|annum|project|applicant|organisation|organization|grant)|p\.?a\.?|each|(excl?\.?|excluding|incl?\.?|including|plus) gst|gst (exclusive|inclusive)|in total|total|funding|grants?( of)?|approximately|approx\.?|about|around)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (/^[-−]\s*\$?\s*[\d.]/.test(text) || /^\$\s*[-−]/.test(text) || /^minus\b/.test(text)) return { kind: 'error', message: 'must not be negative' };
  let kind: 'exact' | 'min' | 'max' = 'exact';
  const upTo = /^(up to|maximum( of)?|max\.?|no more than|capped at|not exceeding|to)\s+/;
  const from = /^(from|minimum( of)?|min\.?|at least|starting (at|from)|over|more than)\s+/;
  if (upTo.test(text)) {
    kind = 'max';
    text = text.replace(upTo, '');
  } else if (from.test(text)) {
    kind = 'min';
    text = text.replace(from, '');
  }
  if (/\s*(\+|or more|and above|and over)$/.test(text)) {
    if (kind === 'max') return { kind: 'error', message: `"${printedValue}" gives both "up to" and "or more"` };
    kind = 'min';
    text = text.replace(/\s*(\+|or more|and above|and over)$/, '');
  }
  const range = /^(?:between\s+)?(.+?)\s*(?:-|–|—|\bto\b|\band\b)\s*(.+)$/.exec(text);
  if (range && (kind === 'exact' || (kind === 'min' && /\bto\b/.test(text)))) {
    const low = parseMoney(range[1]!);
    const high = parseMoney(range[2]!);
    if (!low || !high) return { kind: 'error', message: `"${printedValue}" is not an amount or a range of amounts` };
    // "$1 - 2 million": the unit printed once applies to both ends.
    const min = low.value * (low.unit ?? high.unit ?? 1);
    const max = high.value * (high.unit ?? 1);
    return { kind: 'range', min, max, ...(currency ? { currency } : {}) };
  }
  const money = parseMoney(text);
  if (!money) return { kind: 'error', message: `"${printedValue}" is not an amount` };
  const value = money.value * (money.unit ?? 1);
  const cur = currency ? { currency } : {};
  if (kind === 'max') return { kind, min: null, max: value, ...cur };
  if (kind === 'min') return { kind, min: value, max: null, ...cur };
  return { kind, min: value, max: value, ...cur };
}

/** An amount rounded to cents; negative or above MAX_AMOUNT rejects. */
function checkAmount(path: string, value: number | null, fail: Fail): number | null {
  if (value === null) return null;
  if (value < 0) return fail(path, 'must not be negative');
  if (value > MAX_AMOUNT) return fail(path, `must be at most ${MAX_AMOUNT.toLocaleString('en-AU')} (the largest amount stored)`);
  // numeric(14,2): cents, rounded as Postgres would.
  return Math.round(value * 100) / 100;
}

/**
 * minAmount / maxAmount / amount into one min and max. An explicit minAmount or maxAmount
 * wins over what `amount` or the other field's range implies.
 */
export function normaliseAmounts(raw: z.infer<typeof RawGrantRecord>, fail: Fail): { min: number | null; max: number | null; currency?: string } {
  let min: number | null = null;
  let max: number | null = null;
  let impliedMin: number | null = null;
  let impliedMax: number | null = null;
  let currency: string | undefined;
  let failed = false;
  const parse = (path: string, value: string | number | null | undefined): Exclude<Parsed, { kind: 'error' }> | undefined => {
    if (value == null) return undefined;
    const p = parseAmountText(value);
    if (p.kind === 'error') {
      failed = true;
      fail(path, p.message);
      return undefined;
    }
    if (p.kind !== 'none' && p.currency) {
      if (currency && currency !== p.currency) {
        failed = true;
        fail(path, `is in ${p.currency}, another amount in ${currency}`);
      }
      currency ??= p.currency;
    }
    return p;
  };
  const minP = parse('minAmount', raw.minAmount);
  if (minP && minP.kind !== 'none') {
    if (minP.kind === 'max') {
      failed = true;
      fail('minAmount', `"${raw.minAmount}" gives a maximum, not a minimum`);
    } else {
      min = minP.min;
      if (minP.kind === 'range') impliedMax = minP.max;
    }
  }
  const maxP = parse('maxAmount', raw.maxAmount);
  if (maxP && maxP.kind !== 'none') {
    if (maxP.kind === 'min') {
      failed = true;
      fail('maxAmount', `"${raw.maxAmount}" gives a minimum, not a maximum`);
    } else {
      max = maxP.max;
      if (maxP.kind === 'range') impliedMin = maxP.min;
    }
  }
  const amountP = parse('amount', raw.amount);
  if (amountP && amountP.kind !== 'none') {
    impliedMin ??= amountP.min;
    impliedMax ??= amountP.max;
  }
  if (raw.minAmount == null) min = impliedMin;
  if (raw.maxAmount == null) max = impliedMax;
  const checkedMin = checkAmount('minAmount', min, fail);
  const checkedMax = checkAmount('maxAmount', max, fail);
  if ((min !== null && checkedMin === null) || (max !== null && checkedMax === null)) failed = true;
  if (!failed && checkedMin !== null && checkedMax !== null && checkedMin > checkedMax) {
    fail('minAmount', `must not be above maxAmount (${checkedMin} > ${checkedMax})`);
  }
  return { min: checkedMin, max: checkedMax, ...(currency ? { currency } : {}) };
}

/**
 * `currency` as a three-letter code (a few printed forms such as "A$" mapped); absent means
 * the currency printed in the amounts, else AUD. It must agree with that printed currency.
 */
export function normaliseCurrency(value: string | null | undefined, fromAmounts: string | undefined, fail: Fail): string {
  if (value == null || value.trim() === '') return fromAmounts ?? 'AUD';
  const code = CURRENCY_WORDS[value.trim().toLowerCase()] ?? value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) {
    fail('currency', 'must be a three-letter ISO 4217 code such as AUD');
    return 'AUD';
  }
  if (fromAmounts && fromAmounts !== code) fail('currency', `is ${code} but the amount is printed in ${fromAmounts}`);
  return code;
}
