import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/schema.js';
import { README_PATH, extractConfigSection, renderConfigTable, replaceConfigSection } from '../../scripts/gen-config-docs.js';

describe('config docs', () => {
  it('config docs - README table matches the schema (regenerate with npm run docs:config)', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(extractConfigSection(readme)).toBe(renderConfigTable());
  });

  it('config docs - every variable of the schema has a row and a description', () => {
    const table = renderConfigTable();
    for (const [name, field] of Object.entries(EnvSchema.shape)) {
      expect(field.description, `${name} has no .describe()`).toBeTruthy();
      expect(table).toContain(`| \`${name}\``);
    }
  });

  it('config docs - replacing the section keeps the text around the markers', () => {
    const readme = 'intro\n<!-- config:start -->\nstale\n<!-- config:end -->\noutro\n';
    const updated = replaceConfigSection(readme, '| new |');
    expect(updated).toBe('intro\n<!-- config:start -->\n| new |\n<!-- config:end -->\noutro\n');
    expect(extractConfigSection(updated)).toBe('| new |');
  });
});
