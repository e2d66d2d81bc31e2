/**
 * NATS_URL as nats.js takes it (src/bus/servers.ts): nats.js ignores a server URL's user
 * info, so the credentials move to connection options and leave the server list. The
 * login itself, on a real nats-server with the shipped accounts, is in
 * test/deploy/compose.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { natsServers } from '../../src/bus/servers.js';

describe('bus - NATS_URL', () => {
  it('nats url - a user and password in every URL of the list become options, the servers carry none', () => {
    expect(natsServers('nats://navimpact:p%40ss@nats-1:4222, nats://navimpact:p%40ss@nats-2:4222')).toEqual({
      servers: ['nats://nats-1:4222', 'nats://nats-2:4222'],
      user: 'navimpact',
      pass: 'p@ss',
    });
  });

  it('nats url - a user alone is a token; URLs without credentials and bare host:port pass as they are', () => {
    expect(natsServers('nats://s3cret@127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'], token: 's3cret' });
    expect(natsServers('nats://127.0.0.1:4222,127.0.0.1:4223')).toEqual({ servers: ['nats://127.0.0.1:4222', '127.0.0.1:4223'] });
  });

  it('nats url - servers with different credentials are refused, without echoing them', () => {
    expect(() => natsServers('nats://a:one@h1:4222,nats://a:two@h2:4222')).toThrow(/different credentials/);
    expect(() => natsServers('nats://a:one@h1:4222,nats://a:two@h2:4222')).not.toThrow(/one|two/);
  });
});
