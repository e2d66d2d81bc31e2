/**
 * NATS_URL as nats.js needs it. nats.js ignores the user info of a server URL, so the
 * credentials of `nats://user:password@host:4222` (or a token, `nats://token@host:4222`)
 * are taken out of the URLs and passed as connection options; the servers it keeps
 * carry none, so no credential reaches its errors or logs.
 */
import type { ConnectionOptions } from 'nats';

export class NatsUrlError extends Error {
  override name = 'NatsUrlError';
}

export function natsServers(url: string): Pick<ConnectionOptions, 'servers' | 'user' | 'pass' | 'token'> {
  const servers: string[] = [];
  let auth: Pick<ConnectionOptions, 'user' | 'pass' | 'token'> | undefined;
  for (const entry of url.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    // A bare host:port is a server as nats.js takes it.
    if (!entry.includes('://')) {
      servers.push(entry);
      continue;
    }
    const parsed = new URL(entry);
    if (parsed.username || parsed.password) {
      const user = decodeURIComponent(parsed.username);
      const these = parsed.password ? { user, pass: decodeURIComponent(parsed.password) } : { token: user };
      if (auth && JSON.stringify(auth) !== JSON.stringify(these)) throw new NatsUrlError('NATS_URL: the servers of the list carry different credentials; give them all the same');
      auth = these;
      parsed.username = '';
      parsed.password = '';
    }
    servers.push(parsed.toString().replace(/\/$/, ''));
  }
  return { servers, ...auth };
}
