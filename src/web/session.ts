/** The page's LiveClient: the gateway it was served by, and the page's token. */
import { LiveClient } from '../client/index.js';
import { pageToken } from './token.js';

/** The client, or undefined when the page has no token and no TOKEN_URL. */
export function pageClient(tokenKey: string): LiveClient | undefined {
  const { token, getToken } = pageToken(tokenKey);
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
