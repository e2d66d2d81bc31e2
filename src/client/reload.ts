/**
 * The default reload after `recovered: false`: a REST snapshot of the topic (CONTRACT
 * section 6) taken with the connection's token. `grants` reads every page of
 * `GET /v1/grants`, `grants?<filter>` every page of `GET /v1/grants?<filter>`; `grant:<id>`
 * reads `GET /v1/grants/<id>` (404 means the grant is gone).
 */
import { z } from 'zod';
import { Grant } from '../domain/grant.js';
import type { Topic } from '../domain/frames.js';

export interface Snapshot {
  /** Every grant of the topic (for `grant:<id>`: that grant, or none when it was deleted). */
  items: Grant[];
  /** The change-log position the first page is consistent with, when the server said. */
  seq: number | undefined;
}

const Page = z.object({ items: z.array(Grant), nextCursor: z.string().nullable(), seq: z.number().int().min(0) });

/** More pages than this is a server bug (a cursor that never ends), not a big table. */
const MAX_PAGES = 10_000;

export async function fetchSnapshot(
  baseUrl: string,
  topic: Topic,
  token: string,
  fetchImpl: typeof fetch,
  signal: AbortSignal,
): Promise<Snapshot> {
  const base = baseUrl.replace(/\/+$/, '');
  const get = async (path: string): Promise<Response> => {
    const res = await fetchImpl(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal });
    return res;
  };
  if (topic.startsWith('grant:')) {
    const id = topic.slice('grant:'.length);
    const res = await get(`/v1/grants/${encodeURIComponent(id)}`);
    if (res.status === 404) return { items: [], seq: undefined };
    if (!res.ok) throw new Error(`GET /v1/grants/${id} answered ${res.status}`);
    return { items: [Grant.parse(await res.json())], seq: undefined };
  }
  const filter = topic.startsWith('grants?') ? topic.slice('grants?'.length) : '';
  const items: Grant[] = [];
  let seq: number | undefined;
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = [filter, cursor === null ? '' : `cursor=${encodeURIComponent(cursor)}`].filter((p) => p !== '').join('&');
    const res = await get(params === '' ? '/v1/grants' : `/v1/grants?${params}`);
    if (!res.ok) throw new Error(`GET /v1/grants answered ${res.status}`);
    const body = Page.parse(await res.json());
    items.push(...body.items);
    // The first page's position: later pages may already hold newer versions, which the
    // version check of whoever applies the changes from `seq` on keeps.
    seq ??= body.seq;
    cursor = body.nextCursor;
    if (cursor === null) return { items, seq };
  }
  throw new Error(`GET /v1/grants did not end after ${MAX_PAGES} pages`);
}
