/**
 * `npm run build:web`: the browser bundles with esbuild (docs/web.md).
 *
 * Entries: the board (`src/web/board.ts`), the ops page (`src/web/ops.ts`) and the SDK alone
 * (`src/client/index.ts`, for pages of other applications). Every file gets a content hash in
 * its name (`assets/board-3F2A1BCD.js`), so the gateway serves them with a year-long
 * immutable cache; the pages (`index.html`, `ops.html`) are written with the hashed names
 * and served with `no-cache`. `manifest.json` names what was built. The SDK is also written
 * unhashed to `dist/client/index.js` for the package's `exports` map.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface WebManifest {
  /** Asset file names (under `assets/`) per entry. */
  entries: Record<'board' | 'ops' | 'sdk', { js: string; css?: string }>;
  builtAt: string;
}

/** Builds into `outDir` (default `dist/web`); returns the manifest. */
export async function buildWeb(outDir = join(ROOT, 'dist/web'), options: { minify?: boolean } = {}): Promise<WebManifest> {
  await rm(outDir, { recursive: true, force: true });
  const assets = join(outDir, 'assets');
  await mkdir(assets, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { board: 'src/web/board.ts', ops: 'src/web/ops.ts', sdk: 'src/client/index.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: options.minify ?? true,
    sourcemap: 'linked',
    outdir: assets,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    splitting: false,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'silent',
  });
  const entries = {} as WebManifest['entries'];
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!out.entryPoint || !file.endsWith('.js')) continue;
    const name = out.entryPoint === 'src/client/index.ts' ? 'sdk' : (basename(out.entryPoint, '.ts') as 'board' | 'ops');
    entries[name] = { js: basename(file), ...(out.cssBundle ? { css: basename(out.cssBundle) } : {}) };
  }
  const manifest: WebManifest = { entries, builtAt: new Date().toISOString() };
  for (const [page, entry] of [['index.html', entries.board], ['ops.html', entries.ops]] as const) {
    const template = await readFile(join(ROOT, 'src/web', page === 'index.html' ? 'board.html' : 'ops.html'), 'utf8');
    const html = template
      .replace('{{script}}', `/assets/${entry.js}`)
      .replace('{{style}}', entry.css ? `/assets/${entry.css}` : '');
    await writeFile(join(outDir, page), html);
  }
  await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // The SDK for npm users (package.json `exports`), unhashed.
  const sdkOut = join(ROOT, 'dist/client/index.js');
  if (relative(ROOT, outDir) === join('dist', 'web')) {
    await mkdir(dirname(sdkOut), { recursive: true });
    await esbuild.build({ absWorkingDir: ROOT, entryPoints: ['src/client/index.ts'], bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', outfile: sdkOut, logLevel: 'silent' });
  }
  return manifest;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  buildWeb(out ? join(process.cwd(), out) : undefined).then(
    (m) => process.stdout.write(`built ${Object.values(m.entries).map((e) => e.js).join(', ')}\n`),
    (err: unknown) => {
      process.stderr.write(`build:web failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
