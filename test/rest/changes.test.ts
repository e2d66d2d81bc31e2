/**
 * `/v1/changes` when its replay from stream GRANTS cannot finish (src/rest/changes.ts): a
 * replay interrupted by lost consumers is 503 `busy` with Retry-After, as a full replay
 * semaphore is, never a 500 and never a partial answer that passes for complete. The
 * feed's side (when a replay is interrupted) is in test/feed/replay.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ReplayInterruptedError, type ChangeFeed } from '../../src/feed/types.js';
import { HttpError } from '../../src/http/errors.js';
import type { Request } from '../../src/http/request.js';
import { SemaphoreFullError } from '../../src/lifecycle/semaphore.js';
import { ChangesRoute } from '../../src/rest/changes.js';
import { RecentChanges } from '../../src/rest/recent.js';

/** A feed at seq 100 whose replays fail with `err` after handing over `delivered` events. */
function feed(err: Error, delivered = 0): ChangeFeed {
  const fake: Pick<ChangeFeed, 'head' | 'live' | 'firstSeq' | 'replay'> = {
    head: 100,
    live: true,
    firstSeq: async () => 1,
    async replay(_scope, since, _until, each) {
      for (let seq = since + 1; seq <= since + delivered; seq++) each({ seq, id: 'x', change: undefined as never, json: `{"seq":${seq}}`, frame: '' });
      throw err;
    },
  };
  return fake as ChangeFeed;
}

const request = (query: string): Request => ({ method: 'GET', url: '/v1/changes', query, params: [], address: '127.0.0.1', header: () => undefined, signal: new AbortController().signal });

describe('rest - /v1/changes when the replay cannot finish', () => {
  it('changes - a replay interrupted after some events: 503 busy with Retry-After, not the events it got', async () => {
    const route = new ChangesRoute(feed(new ReplayInterruptedError('lost'), 3), new RecentChanges(0), 1_000);
    const err = await route.handle(request('since=10')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 503, code: 'busy', headers: { 'retry-after': '1' } });
  });

  it('changes - a full replay semaphore is the same answer; any other failure stays an error for the 500 path', async () => {
    const busy = await new ChangesRoute(feed(new SemaphoreFullError('full')), new RecentChanges(0), 1_000).handle(request('since=10')).catch((e: unknown) => e);
    expect(busy).toMatchObject({ status: 503, code: 'busy' });
    const other = await new ChangesRoute(feed(new Error('boom')), new RecentChanges(0), 1_000).handle(request('since=10')).catch((e: unknown) => e);
    expect(other).not.toBeInstanceOf(HttpError);
    expect((other as Error).message).toBe('boom');
  });
});
