/**
 * The WebSocket gateway alone in the test's process (no REST, no cache), on a free port and
 * a given NATS connection, so a test can inspect its structures and heap.
 */
import type { NatsConnection } from 'nats';
import { createTokenVerifier } from '../../src/auth/verifier.js';
import type { Config } from '../../src/config/schema.js';
import { GrantFeed } from '../../src/feed/grants-feed.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { HttpServer } from '../../src/http/server.js';
import type { Metrics } from '../../src/observability/metrics.js';
import { testLog } from './log.js';

export interface LocalGateway {
  port: number;
  stop(): Promise<void>;
  whenEmpty(): Promise<void>;
  stats(): ReturnType<Gateway['stats']>;
}

export async function startLocalGateway(config: Config, nc: NatsConnection, metrics: Metrics): Promise<LocalGateway> {
  const verifier = await createTokenVerifier({ secret: config.JWT_SECRET });
  const http = new HttpServer();
  const feed = new GrantFeed(nc, { maxAgeMs: config.GRANTS_MAX_AGE, replicas: config.NATS_STREAM_REPLICAS }, testLog, metrics, config.GATEWAY_REPLAY_WINDOW);
  const gateway = new Gateway(config, { app: http.app, feed, verifier, log: testLog, metrics });
  feed.onEvent((event) => gateway.dispatch(event));
  await feed.start();
  const port = await http.listen(config.HOST, config.PORT);
  gateway.start();
  return {
    port,
    async stop() {
      http.close();
      gateway.stop();
      await feed.stop();
    },
    whenEmpty: () => gateway.whenEmpty(),
    stats: () => gateway.stats(),
  };
}
