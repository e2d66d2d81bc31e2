/**
 * Tests and benches start the service with the Node options of `npm start`, which the image
 * runs (test/support/service.ts): an option added there reaches every measurement.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_ARGS } from '../support/service.js';

describe('the Node options the service runs with', () => {
  it('are those of npm start, which the image runs', () => {
    const start = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(start).toBe(['node', ...SERVICE_NODE_ARGS, '--import', 'tsx', 'src/main.ts'].join(' '));
    expect(readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8')).toMatch(/^CMD \["npm", "start"\]$/m);
  });
});
