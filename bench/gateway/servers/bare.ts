/**
 * The ceiling: a bare uWebSockets.js server (the same package alias as the gateway, native
 * binary) that consumes stream GRANTS and publishes every event's frame, the same bytes the
 * gateway sends, to all clients of topic `grants`. Events are collected and published
 * once per event-loop tick. No authentication, no per-connection state, no limits; the
 * per-connection buffer bound is the gateway's (2 x GATEWAY_MAX_BUFFER), so neither server
 * drops a frame that the other would deliver.
 *
 * Protocol, enough for the load generator: `{"type":"welcome"}` on open; any client frame
 * subscribes the connection to `grants` and is answered `{"type":"subscribed"}`.
 *
 * Env: PORT (0 = any), NATS_URL. Prints `{"code":"GatewayListening","port":N}`.
 */
import uWS from 'uWebSockets.js';
import { announce, startFeed } from './feed.js';

const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const port = Number(process.env.PORT ?? 0);

const app = uWS.App().ws('/*', {
  maxPayloadLength: 16_384,
  maxBackpressure: 2 * 1_048_576,
  open: (ws) => {
    ws.send('{"type":"welcome"}');
  },
  message: (ws) => {
    ws.subscribe('grants');
    ws.send('{"type":"subscribed","topic":"grants"}');
  },
});

let pending: string[] = [];
let scheduled = false;
const flush = () => {
  scheduled = false;
  const frames = pending;
  pending = [];
  for (const frame of frames) app.publish('grants', frame, false);
};

await startFeed(natsUrl, (frame) => {
  pending.push(frame);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`bare: cannot listen on ${port}\n`);
    process.exit(1);
  }
  announce(uWS.us_socket_local_port(socket));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
