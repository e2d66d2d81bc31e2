/**
 * What users would otherwise pick: a Socket.IO 4 server with its default settings (Node's
 * http server, the `ws` engine, perMessageDeflate off as by default), fed by the same
 * stream GRANTS. Authenticated as its users do it, in a namespace middleware checking the
 * token of the CONNECT packet (`auth: { token }`) with jose, HS256. A client emits
 * `subscribe` with a room name, joins it and is answered `subscribed`; each event is
 * parsed once and emitted to room `grants` as `grant` (Socket.IO encodes a broadcast once
 * and writes it to each socket).
 *
 * Env: PORT (0 = any), NATS_URL, JWT_SECRET. Prints `{"code":"GatewayListening","port":N}`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { announce, startFeed } from './feed.js';

const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const port = Number(process.env.PORT ?? 0);
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? '');

const http = createServer();
const io = new Server(http);

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== 'string') return next(new Error('unauthorized'));
  jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }).then(
    ({ payload }) => {
      socket.data.sub = payload.sub;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  socket.on('subscribe', (topic: unknown) => {
    if (topic !== 'grants') return;
    void socket.join(topic);
    socket.emit('subscribed', topic);
  });
});

await startFeed(natsUrl, (frame) => {
  io.to('grants').emit('grant', JSON.parse(frame));
});

http.listen(port, '127.0.0.1', () => announce((http.address() as AddressInfo).port));

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
