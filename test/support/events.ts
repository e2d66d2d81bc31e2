/**
 * Change events as the relay publishes them into stream GRANTS, for tests that feed a
 * gateway or a feed without a database and a relay.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';

/** Publishes one insert of a new grant whose description is `description`. */
export async function publishChangeEvent(nc: NatsConnection, description: string | null = null): Promise<void> {
  const id = randomUUID();
  const now = new Date().toISOString();
  const grant = { id, source: 's', externalId: id, title: 't', description, agency: null, url: null, minAmount: null, maxAmount: null, currency: 'AUD', openDate: null, closeDate: null, status: 'open', categories: [], locations: [], vicOutcomeDomain: null, version: 1, updatedAt: now };
  await nc.jetstream().publish(`grants.changed.${id}`, new TextEncoder().encode(JSON.stringify({ op: 'insert', id, version: 1, grant, committedAt: now })));
}
