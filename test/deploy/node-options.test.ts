/**
 * `npm start`'s Node options (docs/deployment.md section 1): V8's young generation capped at
 * 2 MB a semi-space, so that a burst of handshakes does not leave the process holding 32 MB
 * of it. Benches and tests start the service with the same options (test/support/service.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_ARGS } from '../support/service.js';

/** Largest committed young generation (MB) while objects that survive a few collections are made. */
const YOUNG_GENERATION_PEAK = `
const v8 = require('node:v8');
let peak = 0;
const kept = [];
for (let i = 0; i < 200; i++) {
  const batch = [];
  for (let j = 0; j < 20000; j++) batch.push({ i, j });
  kept.push(batch);
  if (kept.length > 20) kept.shift();
  peak = Math.max(peak, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
}
process.stdout.write(String(peak / 2 ** 20));
`;

const youngGenerationPeakMB = (nodeArgs: readonly string[]) => Number(execFileSync(process.execPath, [...nodeArgs, '-e', YOUNG_GENERATION_PEAK]).toString());

describe('the Node options the service runs with', () => {
  it('come from npm start, which the image runs', () => {
    expect(SERVICE_NODE_ARGS).toEqual(['--max-semi-space-size=2']);
    expect(readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8')).toMatch(/^CMD \["npm", "start"\]$/m);
  });

  it('cap the young generation at 4 MB, where Node 20 lets it grow to 32 MB', () => {
    expect(youngGenerationPeakMB(SERVICE_NODE_ARGS)).toBeLessThanOrEqual(4);
    expect(youngGenerationPeakMB([])).toBeGreaterThan(4);
  });
});
