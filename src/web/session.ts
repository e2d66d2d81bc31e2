/** The page's LiveClient: the gateway it was served by, and the page's token. */
import { LiveClient } from '../client/index.js';
import { pageToken, TokenSource } from './token.js';

/** The client, or undefined when the page has no token and no TOKEN_URL; `tokens` follows the tokens it uses. */
export function pageClient(tokenKey: string, tokens?: (source: TokenSource) => void): LiveClient | undefined {
  const page = pageToken(tokenKey);
  const source = new TokenSource(page);
  tokens?.(source);
  const token = page.token;
  const getToken = page.getToken && (async () => {
    const fresh = await page.getToken!();
    source.set(fresh);
    return fresh;
  });
  if (token === undefined && getToken === undefined) return undefined;
  const ws = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/live`;
  return new LiveClient({
    url: ws,
    restBaseUrl: location.origin,
    ...(token === undefined ? {} : { token }),
    ...(getToken === undefined ? {} : { getToken }),
  });
}

/** Shows why a page cannot connect, in its indicator. */
export function showNoToken(el: HTMLElement): void {
  el.dataset.state = 'offline';
  el.textContent = 'No token: open this page with #token=… (bash scripts/dev.sh prints one)';
}
