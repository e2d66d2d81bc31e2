/**
 * "Not known yet": the words a site prints in place of a fact it has not decided or does
 * not give ("TBA", "To be confirmed", "Not Specified yet", "Varies"). Such a value is stored
 * as null and the grant is kept (docs/ingest.md): the fact is missing, the grant is not.
 * Garbage is another thing: a text that says nothing of the kind ("lots of money",
 * "Atlantis", "soon") is not matched here and still rejects.
 */

/** Phrases that say a value is not known yet, whatever the field. Matched as whole words. */
const NOT_KNOWN = [
  'n/a', 'nil', 'none',
  'tba', 'tbc', 'tbd', 't\\.b\\.a\\.?', 't\\.b\\.c\\.?',
  'to be (?:announced|advised|confirmed|determined|decided|published|released|set)',
  'not (?:yet )?(?:specified|stated|known|available|applicable|announced|confirmed|decided|determined|set|published|released)(?: yet)?',
  'unspecified', 'unknown', 'not specified', 'no set', 'not set',
  'has not (?:yet )?been (?:decided|announced|confirmed|set)',
  'coming soon',
  'see (?:the )?(?:guidelines|website|details|program guidelines|below)',
];

/** Extra phrases for amounts: the figure depends on the application. */
const AMOUNT_NOT_KNOWN = [
  'varies', 'various', 'variable', 'varied', 'any amount', 'no (?:set |fixed |specified )?(?:funding |grant )?(?:amount|limit|maximum|minimum|cap)',
  'no (?:upper|lower) (?:grant )?limit', 'uncapped', 'depends', 'dependent on', 'depending on', 'at (?:the )?discretion', 'discretionary',
  'on application', 'negotiable', 'by negotiation', 'unlimited',
];

/** Extra phrases for dates: the round has no fixed date. */
const DATE_NOT_KNOWN = [
  'ongoing', 'rolling', 'open all year', 'all year(?: round)?', 'year[- ]round', 'throughout the year', 'any ?time', 'at any time',
  'no (?:closing|close|opening|open|fixed|set) date(?: specified)?', 'no deadline',
  '(?:until|when) (?:all )?(?:the )?funds? (?:are |is |have been |has been )?(?:exhausted|expended|allocated|spent|fully allocated|fully committed)',
  '(?:until|when) (?:the )?funding (?:allocation )?(?:is |has been )?(?:exhausted|expended|allocated|spent)',
  'until (?:further notice|filled|fully subscribed)', 'continuous', 'open until filled', 'by invitation(?: only)?', 'invitation only',
];

function phrases(list: readonly string[]): RegExp {
  return new RegExp(`(?:^|[^a-z0-9])(?:${list.join('|')})(?=$|[^a-z0-9])`, 'i');
}

const ANY = phrases(NOT_KNOWN);
const AMOUNT = phrases([...NOT_KNOWN, ...AMOUNT_NOT_KNOWN]);
const DATE = phrases([...NOT_KNOWN, ...DATE_NOT_KNOWN]);

/** A whole value that is only a placeholder: empty, a dash, "n/a". */
const PLACEHOLDER = /^(?:|-+|–|—|n\/?a\.?|nil|none|\?+)$/i;

/** Whether `text` (plain, any case) says the value is not known yet. */
export function saysNotKnown(text: string, field: 'amount' | 'date' | 'any' = 'any'): boolean {
  const lower = text.toLowerCase().trim();
  if (PLACEHOLDER.test(lower)) return true;
  return (field === 'amount' ? AMOUNT : field === 'date' ? DATE : ANY).test(lower);
}
