/**
 * docs/error-codes.md and src/domain/codes.ts stay in step: every code of every vocabulary
 * (log, close, frame error, token and upgrade refusal, HTTP error, client SDK, exit) is
 * catalogued, nothing is catalogued that does not exist, the close reasons fit a close
 * frame, and no source file writes an exit code or an error code outside the vocabulary.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as codes from '../../src/domain/codes.js';
import { AUTH_FAILURES, ClientErrorCode, CloseCode, ExitCode, FrameError, HttpErrorCode, LogCode, RefusalReason, closeReason } from '../../src/domain/codes.js';

const doc = readFileSync(new URL('../../docs/error-codes.md', import.meta.url), 'utf8');
const SRC = new URL('../../src/', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The rows of every table under the `## heading` section (up to the next `## `), as cells. */
function tableRows(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/error-codes.md has no section "## ${heading}"`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    )
    .filter((cells) => !['Code', 'Exit code'].includes(cells[0] ?? ''));
}

const unquote = (cell: string | undefined) => (cell ?? '').replace(/^`|`$/g, '');

describe('docs - error codes', () => {
  const logRows = tableRows('Log codes');
  const closeRows = tableRows('WebSocket close codes');
  const exitRows = tableRows('Process exit codes');

  it('docs - every LogCode is catalogued once in the log code tables', () => {
    const documented = logRows.map((r) => unquote(r[0]));
    for (const code of Object.values(LogCode)) {
      expect(documented.filter((d) => d === code), `${code} in docs/error-codes.md`).toHaveLength(1);
    }
  });

  it('docs - every code in the log code tables exists in codes.ts', () => {
    const known = new Set<string>(Object.values(LogCode));
    for (const row of logRows) {
      expect(row[0], 'first column is a `Code`').toMatch(/^`[A-Z][A-Za-z]+`$/);
      expect(known.has(unquote(row[0])), `${row[0]} is a LogCode`).toBe(true);
    }
  });

  it('docs - every log code row has a level, a meaning and an action', () => {
    const levels = /^(fatal|error|warn|info|debug|trace)( \/ (fatal|error|warn|info|debug|trace))*$/;
    for (const row of logRows) {
      expect(row, `${row[0]} has four columns`).toHaveLength(4);
      expect(row[1], `${row[0]} level`).toMatch(levels);
      expect(row[2]!.length, `${row[0]} meaning`).toBeGreaterThan(10);
      expect(row[3]!.length, `${row[0]} action`).toBeGreaterThan(3);
    }
  });

  it('docs - every code named anywhere in the page exists in codes.ts', () => {
    // Backticked PascalCase words are code references, in the tables and in the prose.
    // ... or the name of a vocabulary itself (`FrameError`, `ExitCode`, ...).
    const known = new Set<string>([...Object.values(LogCode), ...Object.keys(CloseCode), ...Object.keys(codes), 'AuthFailure']);
    const referenced = [...doc.matchAll(/`([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)`/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(Object.keys(LogCode).length);
    expect(referenced.filter((name) => !known.has(name))).toEqual([]);
  });

  it('docs - every CloseCode is catalogued with its name and exact reason', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      const row = closeRows.find((r) => unquote(r[0]) === String(code));
      expect(row, `close code ${code} in docs/error-codes.md`).toBeDefined();
      expect(unquote(row![1])).toBe(name);
      expect(row![2]).toBe(closeReason[code]);
    }
  });

  it('docs - every code in the close code table exists in codes.ts', () => {
    const known = new Set<string>(Object.values(CloseCode).map(String));
    expect(closeRows.length).toBeGreaterThan(0);
    for (const row of closeRows) {
      expect(row[0]).toMatch(/^`\d{4}`$/);
      expect(known.has(unquote(row[0])), `${row[0]} is a CloseCode`).toBe(true);
    }
  });

  it('docs - every close reason fits a WebSocket close frame (under 123 bytes)', () => {
    for (const code of Object.values(CloseCode)) {
      const reason = closeReason[code];
      expect(reason.length, `reason of ${code}`).toBeGreaterThan(0);
      expect(Buffer.byteLength(reason, 'utf8'), `reason of ${code}`).toBeLessThan(123);
    }
  });

  it('docs - close codes are in the ranges RFC 6455 allows a server to send', () => {
    for (const code of Object.values(CloseCode)) {
      expect(code === 1001 || code === 1009 || (code >= 4000 && code <= 4999), String(code)).toBe(true);
    }
  });

  it('docs - the exit code table is ExitCode, both ways', () => {
    const documented = exitRows.map((r) => Number(r[0]));
    expect(documented.every((n) => Number.isInteger(n))).toBe(true);
    expect([...documented].sort((a, b) => a - b)).toEqual(Object.values(ExitCode).sort((a, b) => a - b));
  });

  it('docs - every other vocabulary is catalogued exactly, both ways', () => {
    const sections: [string, readonly string[]][] = [
      ['`error` frame codes', Object.values(FrameError)],
      ['Token refusal reasons', AUTH_FAILURES],
      ['Upgrade refusal reasons', Object.values(RefusalReason)],
      ['HTTP error codes', Object.values(HttpErrorCode)],
      ['Client SDK error codes', Object.values(ClientErrorCode)],
    ];
    for (const [heading, codes] of sections) {
      const documented = tableRows(heading).map((r) => unquote(r[0]));
      expect(documented.length, heading).toBeGreaterThan(0);
      expect([...documented].sort(), heading).toEqual([...codes].sort());
    }
  });

  it('docs - no source file ends the process or answers an error with a code outside the vocabulary', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      const rel = file.slice(SRC.length);
      // Exit codes come from ExitCode: no literal number reaches process.exit, exitCode or fail().
      for (const m of text.matchAll(/(process\.exit\(|exitCode\s*=\s*|fail\()\s*\d+/g)) offenders.push(`${rel}: ${m[0]}`);
      // HTTP errors carry a code of HttpErrorCode (or an AuthFailure variable): no free string.
      for (const m of text.matchAll(/new HttpError\(\s*\d+,\s*'[^']*'/g)) offenders.push(`${rel}: ${m[0]}`);
      // Error bodies are written by errorBody() (http/errors.ts): no hand-made {"error": ...} JSON.
      if (rel !== 'http/errors.ts') for (const m of text.matchAll(/JSON\.stringify\(\{\s*error:/g)) offenders.push(`${rel}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });
});
