/**
 * The NATS connection of a process. The first connection must succeed at start-up (a
 * clear error otherwise); after that the client reconnects forever and every role keeps
 * its own recovery (the relay reconciles, consumers resume from their acks). Credentials
 * come from the URLs (servers.ts).
 */
import { connect, type NatsConnection } from 'nats';
import { LogCode } from '../domain/codes.js';
import type { Logger } from '../observability/log.js';
import { natsServers } from './servers.js';

/**
 * How long one pull request of a long-running consumer lasts (`consume({ expires })`).
 * JetStream sends a heartbeat every half of it, and nats.js starts the pull over after two
 * are missed (a stream reader ends then, stream-reader.ts): when the cluster node holding a
 * consumer dies, this is about how long its reader stays silent before it carries on from
 * another node. nats.js's default, 30 s, stalled the live feed, the invalidator and ingest
 * for 25 s after losing a node (test/deploy/nats-cluster.test.ts); an idle consumer costs
 * one pull request per period.
 */
export const PULL_EXPIRES_MS = 5_000;

export class NatsUnreachableError extends Error {
  override name = 'NatsUnreachableError';
}

export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  // The servers as nats.js gets them carry no credentials: the error names them, never the URL.
  let where = 'NATS_URL';
  try {
    const servers = natsServers(url);
    where = [servers.servers ?? []].flat().join(',');
    nc = await connect({
      ...servers,
      name,
      timeout: 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 250,
      pingInterval: 10_000,
      maxPingOut: 3,
      // nats.js captures a stack (a NatsError) for every request, JetStream publishes and
      // pulls included, so that a timeout can show where it was asked: 22% of the relay's
      // CPU at its highest rate (bench/README.md, relay profile). Errors keep their codes.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new NatsUnreachableError(`cannot connect to NATS at ${where}: ${(err as Error).message}`, { cause: err });
  }
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') log.warn({ code: LogCode.NatsDisconnected, server: status.data }, 'NATS disconnected');
      else if (status.type === 'reconnect') log.info({ code: LogCode.NatsReconnected, server: status.data }, 'NATS reconnected');
      else if (status.type === 'error') log.warn({ code: LogCode.NatsError, err: status.data }, 'NATS error');
    }
  })();
  return nc;
}
