import { readFileSync } from 'node:fs';

/** `navimpact-live@<version>` from package.json, unless RELEASE overrides it. */
export function defaultRelease(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name}@${pkg.version}`;
}
