/**
 * `GET /v1/changes?since=N&limit=&wait=` (CONTRACT section 6): the change events after
 * stream sequence N, from the gateway's recent events when it holds them, else from stream
 * GRANTS. With `wait`, a request that finds nothing newer waits up to that many seconds
 * (at most 30) for the next event. `seq` in the answer is where the next request starts:
 * the last event's, or `since` when there was none.
 *
 * A `since` older than the stream keeps (the resume window) is answered 410
 * `since_expired`: the client reloads with `GET /v1/grants`, as `recovered:false` tells a
 * WebSocket client.
 */
import { z } from 'zod';
import { HttpErrorCode } from '../domain/codes.js';
import { ReplayInterruptedError, type ChangeFeed } from '../feed/types.js';
import { SemaphoreFullError } from '../lifecycle/semaphore.js';
import { HttpError } from '../http/errors.js';
import { describeIssues, parseQuery } from '../http/query.js';
import type { Reply, Request } from '../http/request.js';
import type { RecentChanges } from './recent.js';

export const MAX_WAIT_SECONDS = 30;
/** Retry-After of a `busy` answer. */
const BUSY_RETRY_AFTER_SECONDS = 1;

const wholeNumber = z.string().regex(/^\d{1,15}$/, 'must be a whole number').transform(Number);

export const ChangesQuery = (maxLimit: number) =>
  z.object({
    since: wholeNumber,
    limit: wholeNumber.pipe(z.number().int().min(1).max(maxLimit)).default(100),
    wait: z
      .string()
      .regex(/^\d{1,2}(\.\d{1,3})?$/, 'must be a number of seconds')
      .transform(Number)
      .pipe(z.number().min(0).max(MAX_WAIT_SECONDS))
      .default(0),
  });

export class ChangesRoute {
  private readonly query: ReturnType<typeof ChangesQuery>;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly recent: RecentChanges,
    maxLimit: number,
  ) {
    this.query = ChangesQuery(maxLimit);
  }

  async handle(req: Request): Promise<Reply> {
    const parsed = this.query.safeParse(parseQuery(req.query, ['since', 'limit', 'wait']));
    if (!parsed.success) throw new HttpError(400, HttpErrorCode.InvalidQuery, describeIssues(parsed.error.issues));
    const { since, limit, wait } = parsed.data;
    const deadline = Date.now() + wait * 1_000;
    for (;;) {
      const events = await this.read(since, limit);
      const remaining = deadline - Date.now();
      if (events.length > 0 || remaining <= 0 || req.signal.aborted) {
        const seq = events.length ? events[events.length - 1]!.seq : since;
        return { body: `{"events":[${events.map((e) => e.json).join(',')}],"seq":${seq}}`, headers: { 'cache-control': 'no-store' } };
      }
      await this.recent.wait(remaining, req.signal);
    }
  }

  private async read(since: number, limit: number): Promise<{ seq: number; json: string }[]> {
    const head = this.feed.head;
    if (since >= head) return [];
    const recent = this.recent.after(since, limit);
    if (recent) return recent;
    const first = await this.feed.firstSeq();
    if (since + 1 < first) throw new HttpError(410, HttpErrorCode.SinceExpired, `events after ${since} are no longer kept (the oldest is ${first}); reload with GET /v1/grants`);
    const out: { seq: number; json: string }[] = [];
    const until = Math.min(head, since + limit);
    try {
      await this.feed.replay('all', since, until, (event) => {
        out.push({ seq: event.seq, json: event.json });
        return out.length < limit;
      });
    } catch (err) {
      if (err instanceof SemaphoreFullError) throw new HttpError(503, HttpErrorCode.Busy, 'too many replays of the stream at once; retry shortly', undefined, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) });
      if (err instanceof ReplayInterruptedError) throw new HttpError(503, HttpErrorCode.Busy, 'the replay of the stream was interrupted (NATS changing hands); retry shortly', undefined, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) });
      throw err;
    }
    return out;
  }
}
