/**
 * The comparison servers' view of stream GRANTS: an ordered consumer from the stream's
 * end, as the gateway's feed (src/gateway/feed.ts) consumes it, handing each event on as
 * the same frame text the gateway sends (`{"type":"grant",...}`, the relay's payload with
 * the type spliced in front). Written out here, not imported, so the comparison servers
 * do not change when the gateway does.
 */
import { connect, DeliverPolicy, type NatsConnection } from 'nats';

const decoder = new TextDecoder();

export interface Feed {
  nc: NatsConnection;
  done: Promise<void>;
}

export async function startFeed(url: string, onFrame: (frame: string) => void): Promise<Feed> {
  const nc = await connect({ servers: url, name: `bench-feed-${process.pid}` });
  const js = nc.jetstream();
  const consumer = await js.consumers.get('GRANTS', { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume({ max_messages: 1_024 });
  const done = (async () => {
    for await (const m of messages) onFrame(`{"type":"grant",${decoder.decode(m.data).slice(1)}`);
  })();
  return { nc, done };
}

/** The line the orchestrator waits for, in the gateway's own log shape. */
export function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ level: 30, code: 'GatewayListening', port })}\n`);
}
