/**
 * The README's configuration table, generated from the zod schema (src/config/schema.ts).
 *
 * `tsx scripts/gen-config-docs.ts` prints the table; with `--write` (`npm run docs:config`)
 * it replaces the text between the README's `<!-- config:start -->` and
 * `<!-- config:end -->` markers. test/docs/config-table.test.ts fails when the two differ,
 * so a variable added to the schema without regenerating is caught.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { Duration } from '../src/config/duration.js';
import { EnvSchema, SECRET_KEYS } from '../src/config/schema.js';

export const START_MARKER = '<!-- config:start -->';
export const END_MARKER = '<!-- config:end -->';
export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url));

const NONE = '—';
const DURATION_UNITS: ReadonlyArray<[string, number]> = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/** Milliseconds back in the notation the variable is written in: 86400000 -> `24h`. */
function formatDuration(ms: number): string {
  const [unit, size] = DURATION_UNITS.find(([, size]) => ms % size === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

function isDuration(field: z.ZodType): boolean {
  return field instanceof z.ZodDefault && field.unwrap() === Duration;
}

/** The default as it would be written in the environment, or `—` when there is none. */
function formatDefault(field: z.ZodType): string {
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return `${NONE} (required)`;
  const value: unknown = parsed.data;
  if (value === undefined) return NONE;
  if (Array.isArray(value)) return value.length === 0 ? NONE : code(value.join(','));
  if (typeof value === 'number' && isDuration(field)) return code(formatDuration(value));
  return code(typeof value === 'string' ? value : JSON.stringify(value));
}

function code(text: string): string {
  return `\`${text}\``;
}

/** Text fit for one table cell: no line breaks, `|` escaped, `<` `>` escaped outside code spans. */
function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\|/g, '\\|')
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;').replace(/>/g, '&gt;') : part))
    .join('`');
}

/** The Markdown table of every variable of EnvSchema, in schema order. */
export function renderConfigTable(): string {
  const secrets = new Set<string>(SECRET_KEYS);
  const rows = Object.entries(EnvSchema.shape).map(([name, field]) => {
    const variable = code(name) + (secrets.has(name) ? ' (secret)' : '');
    return `| ${variable} | ${cell(formatDefault(field))} | ${cell(field.description ?? '')} |`;
  });
  return ['| Variable | Default | Description |', '|---|---|---|', ...rows].join('\n');
}

function markerPositions(readme: string): [number, number] {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`README.md needs ${START_MARKER} followed by ${END_MARKER}`);
  return [start + START_MARKER.length, end];
}

/** The text between the markers, trimmed. */
export function extractConfigSection(readme: string): string {
  const [from, to] = markerPositions(readme);
  return readme.slice(from, to).trim();
}

/** The README with the text between the markers replaced by `table`. */
export function replaceConfigSection(readme: string, table: string): string {
  const [from, to] = markerPositions(readme);
  return `${readme.slice(0, from)}\n${table}\n${readme.slice(to)}`;
}

function main(args: readonly string[]): void {
  const table = renderConfigTable();
  if (!args.includes('--write')) {
    process.stdout.write(`${table}\n`);
    return;
  }
  const readme = readFileSync(README_PATH, 'utf8');
  const updated = replaceConfigSection(readme, table);
  if (updated === readme) {
    process.stdout.write('README.md configuration table already up to date\n');
  } else {
    writeFileSync(README_PATH, updated);
    process.stdout.write('README.md configuration table updated\n');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-config-docs: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
