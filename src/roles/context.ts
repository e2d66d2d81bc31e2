/** What main hands every role: the configuration and the process's shared connections. */
import type { NatsConnection } from 'nats';
import type pg from 'pg';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

export interface RoleContext {
  config: Config;
  log: Logger;
  nc: NatsConnection;
  pool: pg.Pool;
  metrics: Metrics;
}

/** A started role: main stops it on shutdown, before the connections it used. */
export interface RunningRole {
  stop(): Promise<void>;
}
