/**
 * Text fields: reads the strings a site printed (title, description, agency, url, source,
 * externalId) and cleans them into one line or bounded paragraphs, so that the same text
 * printed with different entities, markup or whitespace is stored the same. The other rules
 * build on `plainText`, `decodeEntities` and `clip`.
 */
import { LIMITS, SOURCE_PATTERN } from '../domain/scraped.js';
import type { Fail } from './fail.js';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '–', mdash: '—', rsquo: '’', lsquo: '‘' };

/** HTML entities decoded: the named ones in ENTITIES and numeric ones; any other is left as printed. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Control characters Postgres text cannot hold (NUL) or a reader cannot see. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** One line of text: controls removed, whitespace runs collapsed, trimmed. */
export function plainText(text: string): string {
  const nfc = /[^\x00-\x7f]/.test(text) ? text.normalize('NFC') : text;
  return nfc.replace(CONTROL, '').replace(/\s+/g, ' ').trim();
}

const TAG = /<\/?[a-z!][^>]*>/i;

/** A title: entities decoded, one line of plain text, 1 to LIMITS.title characters; markup rejects. */
export function normaliseTitle(text: string, fail: Fail): string | null {
  const title = plainText(decodeEntities(text));
  // Markup in a title means the scraper took HTML where it meant text: rejected so the
  // parser gets fixed, rather than guessed at (docs/ingest.md).
  if (TAG.test(text) || TAG.test(title)) return fail('title', 'must be plain text, not markup');
  if (title.length === 0) return fail('title', 'must not be empty');
  if (title.length > LIMITS.title) return fail('title', `must be at most ${LIMITS.title} characters (got ${title.length})`);
  return title;
}

/**
 * Free text: tags stripped (block tags become line breaks when `keepLines`), entities
 * decoded, whitespace collapsed; empty becomes null; longer than `max` rejects.
 */
export function boundedText(path: string, value: string | null | undefined, max: number, fail: Fail, opts: { keepLines?: boolean } = {}): string | null {
  if (value == null) return null;
  // A bound on the input too, so a megabyte of markup costs no regex work.
  if (value.length > max * 4) return fail(path, `must be at most ${max} characters (got ${value.length})`);
  let text = value;
  if (text.includes('<')) {
    text = text.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ');
    text = opts.keepLines ? text.replace(/<\s*(br|\/p|\/div|\/li|\/h\d)\b[^>]*>/gi, '\n') : text;
    text = text.replace(/<\/?[a-z!][^>]*>/gi, ' ');
  }
  text = decodeEntities(text);
  text = opts.keepLines
    ? (/[^\x00-\x7f]/.test(text) ? text.normalize('NFC') : text)
        .replace(CONTROL, '')
        .split(/\r?\n/)
        .map((line) => line.replace(/\s+/g, ' ').trim())
        .join('\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim()
    : plainText(text);
  if (text.length === 0) return null;
  if (text.length > max) return fail(path, `must be at most ${max} characters (got ${text.length})`);
  return text;
}

/** The record's `source`: absent or blank means the subject's; any other source rejects. */
export function normaliseSource(value: string | null | undefined, subjectSource: string, fail: Fail): string | null {
  const source = value == null || value.trim() === '' ? subjectSource : value.trim();
  if (source !== subjectSource) return fail('source', `must be the subject's source "${subjectSource}" (a scraper publishes only its own records)`);
  if (!SOURCE_PATTERN.test(source) || source.length > LIMITS.source) return fail('source', 'must be lower-case letters, digits, - or _ (at most 64)');
  return source;
}

/** An absolute http(s) URL as `URL` serialises it, or null when absent or blank. */
export function normaliseUrl(value: string | null | undefined, fail: Fail): string | null {
  if (value == null || value.trim() === '') return null;
  const text = value.trim();
  if (text.length > LIMITS.url) return fail('url', `must be at most ${LIMITS.url} characters`);
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('url', 'must be an http or https URL');
    return url.toString();
  } catch {
    return fail('url', 'must be an absolute http or https URL');
  }
}

/** A printed value shortened for an error message (at most 60 characters and an ellipsis). */
export function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
