/**
 * Amounts and currency: reconciles `amount`, `minAmount`, `maxAmount` and `currency`, each
 * read as printed by money-text.ts ("$5,000", "Up to $20 million", "$5,000 - $50,000",
 * "AUD 5000", "maximum value of $5,000 per annum", "Not Specified yet"), into one minimum,
 * one maximum and an ISO 4217 code. A figure that needs a guess rejects.
 */
import type { z } from 'zod';
import { MAX_AMOUNT } from '../domain/grant.js';
import type { RawGrantRecord } from '../domain/scraped.js';
import type { Fail } from './fail.js';
import { CURRENCY_WORDS, parseAmountText, type Parsed } from './money-text.js';

export { parseAmountText } from './money-text.js';

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
