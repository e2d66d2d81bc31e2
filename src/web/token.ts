/**
 * Where a page gets its token (docs/web.md, "Tokens"):
 * - `#token=<jwt>` in the address: kept in `sessionStorage` (this tab only, gone when it
 *   closes) and removed from the address bar at once, so it is not bookmarked, shared or
 *   left in the history;
 * - or from `TOKEN_URL` (a setting of the gateway, handed to the page in the `navimpact-token-url` meta tag): an
 *   endpoint of the host application, called with its cookies, answering `{"token": JWT}`;
 *   the SDK asks it again before the token expires (and after a refused one).
 */
import { tokenExpiresAt } from '../client/token.js';

export interface PageToken {
  /** A token to start with, if one is known now. */
  token?: string;
  /** How to get a fresh one; absent when the page only has a token from its address. */
  getToken?: () => Promise<string>;
}

/** Reads `#token=` (then removes it from the address) or sessionStorage; `key` names the page's slot. */
export function pageToken(key: string, doc: Document = document): PageToken {
  const storageKey = `navimpact.token.${key}`;
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = fragment.get('token');
  if (fromHash) {
    sessionStorage.setItem(storageKey, fromHash);
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  const stored = sessionStorage.getItem(storageKey) ?? undefined;
  const url = doc.querySelector<HTMLMetaElement>('meta[name="navimpact-token-url"]')?.content.trim();
  const usable = stored !== undefined && (tokenExpiresAt(stored) ?? Infinity) > Date.now() ? stored : undefined;
  if (!url) return usable === undefined ? {} : { token: usable };
  return {
    ...(usable === undefined ? {} : { token: usable }),
    getToken: async () => {
      const res = await fetch(url, { credentials: 'include', headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`TOKEN_URL answered ${res.status}`);
      const body = (await res.json()) as { token?: unknown };
      if (typeof body.token !== 'string' || body.token === '') throw new Error('TOKEN_URL answered no token');
      sessionStorage.setItem(storageKey, body.token);
      return body.token;
    },
  };
}

/** A page's token for its own requests (the ops page's `/metrics` and `/health`): the last one, renewed when it has under 10 s left. */
export class TokenSource {
  private token: string | undefined;

  constructor(private readonly page: PageToken) {
    this.token = page.token;
  }

  /** Remembers a token the page got another way (from the SDK's getToken). */
  set(token: string): void {
    this.token = token;
  }

  async current(): Promise<string | undefined> {
    const left = this.token === undefined ? -1 : (tokenExpiresAt(this.token) ?? Infinity) - Date.now();
    if (left > 10_000 || !this.page.getToken) return this.token;
    this.token = await this.page.getToken();
    return this.token;
  }
}
