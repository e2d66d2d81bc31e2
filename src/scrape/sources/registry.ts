/**
 * The sources a scraper can run: the built-in site parsers, and whatever the sources file
 * (`SCRAPE_SOURCES_FILE`, JSON) adds or overrides. A built-in's entry in the file changes
 * only where it is fetched from (`baseUrl`, `startPath`), e.g. to a mirror or a test server.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SourceName } from '../../domain/scrape-status.js';
import { GenericHtmlSource, GenericJsonSource, HtmlSourceDefinition, JsonSourceDefinition } from './generic.js';
import { GRANTCONNECT_BASE_URL, GRANTCONNECT_START_PATH, GrantConnectSource } from './grantconnect.js';
import type { Source } from './types.js';
import { VIC_BASE_URL, VIC_START_PATH, VicGrantsSource } from './vic-gov-au.js';

const BUILT_IN = {
  grantconnect: { baseUrl: GRANTCONNECT_BASE_URL, startPath: GRANTCONNECT_START_PATH, make: (name: string, base: string, path: string) => new GrantConnectSource(name, base, path) },
  'vic-gov-au': { baseUrl: VIC_BASE_URL, startPath: VIC_START_PATH, make: (name: string, base: string, path: string) => new VicGrantsSource(name, base, path) },
} as const;
export type BuiltInKind = keyof typeof BUILT_IN;
export const BUILT_IN_KINDS = Object.keys(BUILT_IN) as BuiltInKind[];

const BuiltInDefinition = z
  .object({
    name: SourceName,
    kind: z.enum(BUILT_IN_KINDS as [BuiltInKind, ...BuiltInKind[]]),
    baseUrl: z.url({ protocol: /^https?$/ }).optional(),
    startPath: z.string().startsWith('/').optional(),
  })
  .strict();

export const SourceDefinition = z.discriminatedUnion('kind', [
  BuiltInDefinition,
  HtmlSourceDefinition.extend({ name: SourceName }),
  JsonSourceDefinition.extend({ name: SourceName }),
]);
export type SourceDefinition = z.infer<typeof SourceDefinition>;

export const SourcesFile = z
  .object({ sources: z.array(SourceDefinition) })
  .strict()
  .refine((f) => new Set(f.sources.map((s) => s.name)).size === f.sources.length, { message: 'source names must be unique', path: ['sources'] });

export class SourcesFileError extends Error {
  override name = 'SourcesFileError';
}

/** Reads and validates a sources file; throws SourcesFileError with the first problem and its path. */
export function readSourcesFile(path: string): SourceDefinition[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SourcesFileError(`${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = SourcesFile.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SourcesFileError(`${path}: ${issue?.path.join('.') || '(top)'} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data.sources;
}

/** Every source known: built-ins under their kind's name, then the file's (same name replaces). */
export function sourceDefinitions(fromFile: SourceDefinition[] = []): Map<string, SourceDefinition> {
  const all = new Map<string, SourceDefinition>();
  for (const kind of BUILT_IN_KINDS) all.set(kind, { name: kind, kind });
  for (const def of fromFile) all.set(def.name, def);
  return all;
}

export function createSource(def: SourceDefinition): Source {
  switch (def.kind) {
    case 'html':
      return new GenericHtmlSource(def);
    case 'json':
      return new GenericJsonSource(def);
    default: {
      const builtIn = BUILT_IN[def.kind];
      return builtIn.make(def.name, def.baseUrl ?? builtIn.baseUrl, def.startPath ?? builtIn.startPath);
    }
  }
}
