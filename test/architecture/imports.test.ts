/**
 * The import rules of docs/architecture.md, enforced over the real import graph of src/:
 * every `import`/`export ... from`/`import()` of a relative module is resolved to the room
 * (top folder of src/, or main.ts) it lands in and checked against the table in the doc.
 * The checker is also run on a graph with a forbidden edge, so the test shows it can fail.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import ts from 'typescript';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const SRC = join(ROOT, 'src');
const DOC = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');

type Rules = Map<string, Set<string>>;

/** The "May import" table between the imports markers of docs/architecture.md. */
function rulesFromDoc(doc: string): Rules {
  const start = doc.indexOf('<!-- imports:start -->');
  const end = doc.indexOf('<!-- imports:end -->');
  if (start < 0 || end < start) throw new Error('docs/architecture.md has no imports table');
  const rules: Rules = new Map();
  for (const line of doc.slice(start, end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const room = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!room) continue;
    const allowed = [...(cells[2] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    rules.set(room, new Set(allowed));
  }
  return rules;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The room a file of src/ belongs to: its top folder, or `main.ts`. */
function roomOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : rel;
}

interface Edge {
  from: string;
  fromRoom: string;
  toRoom: string;
  specifier: string;
}

/** Every relative import of every file under src/, with the rooms at both ends. */
function importGraph(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    // TypeScript's own scanner: named, namespace, side-effect (`import './x.js'`), type-only
    // and dynamic imports, and re-exports (a pattern of ours missed side-effect imports).
    for (const { fileName: specifier } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(`${SRC}/`)) throw new Error(`${relative(ROOT, file)} imports ${specifier}, outside src/`);
      edges.push({ from: relative(ROOT, file), fromRoom: roomOf(file), toRoom: roomOf(target), specifier });
    }
  }
  return edges;
}

/** The edges the rules forbid, as readable lines. */
function violations(edges: readonly Edge[], rules: Rules): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (e.fromRoom === e.toRoom) continue;
    const allowed = rules.get(e.fromRoom);
    if (!allowed) out.push(`${e.from}: room ${e.fromRoom} has no row in docs/architecture.md`);
    else if (!allowed.has(e.toRoom) && !(e.fromRoom === 'main.ts' && allowed.has('*'))) out.push(`${e.from} imports ${e.specifier} (${e.fromRoom} -> ${e.toRoom})`);
  }
  return out;
}

describe('architecture', () => {
  const rules = rulesFromDoc(DOC);
  const edges = importGraph();

  it('architecture - every room of src/ has a row, and every row a room', () => {
    const rooms = new Set(sourceFiles(SRC).map(roomOf));
    expect([...rules.keys()].sort()).toEqual([...rooms].sort());
  });

  it('architecture - every import in src/ is one docs/architecture.md allows', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(violations(edges, rules)).toEqual([]);
  });

  it('architecture - nothing but main.ts imports a role (src/roles/)', () => {
    const into = edges.filter((e) => e.toRoom === 'roles' && e.fromRoom !== 'roles').map((e) => e.from);
    expect([...new Set(into)]).toEqual(['src/main.ts']);
  });

  it('architecture - the domain imports nothing of the service, the client nothing but the domain', () => {
    expect(rules.get('domain')).toEqual(new Set());
    expect(rules.get('client')).toEqual(new Set(['domain']));
    expect(edges.filter((e) => e.fromRoom === 'domain' && e.toRoom !== 'domain')).toEqual([]);
  });

  it('architecture - the checker catches a forbidden import (capture -> gateway, rest -> gateway, scrape -> db)', () => {
    const forbidden: Edge[] = [
      { from: 'src/capture/relay.ts', fromRoom: 'capture', toRoom: 'gateway', specifier: '../gateway/gateway.js' },
      { from: 'src/rest/index.ts', fromRoom: 'rest', toRoom: 'gateway', specifier: '../gateway/sockets.js' },
      { from: 'src/scrape/run.ts', fromRoom: 'scrape', toRoom: 'db', specifier: '../db/pool.js' },
    ];
    expect(violations([...edges, ...forbidden], rules)).toEqual([
      'src/capture/relay.ts imports ../gateway/gateway.js (capture -> gateway)',
      'src/rest/index.ts imports ../gateway/sockets.js (rest -> gateway)',
      'src/scrape/run.ts imports ../db/pool.js (scrape -> db)',
    ]);
  });
});
