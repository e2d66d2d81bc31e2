/**
 * The ceiling: a bare uWebSockets.js handler (the same package alias as the gateway, native
 * binary) answering `GET /v1/grants/:id` with the bytes the gateway answered for that id,
 * captured by run.ts before the runs: status line, the gateway's own headers (uWS adds
 * `Date`, `Content-Length` and its `uWebSockets` mark itself, for both servers) and body.
 * An unknown id gets 404. No authentication, no cache, no Redis: a map look-up per request.
 *
 * Env: PORT (0 = any), ANSWERS (path of a JSON file: { [id]: { status, headers, body } }).
 * Prints `{"code":"BenchListening","port":N}`.
 */
import { readFileSync } from 'node:fs';
import uWS from 'uWebSockets.js';

interface Answer {
  status: string;
  headers: [string, string][];
  body: string;
}

const port = Number(process.env.PORT ?? 0);
const answers = new Map<string, Answer>(Object.entries(JSON.parse(readFileSync(process.env.ANSWERS!, 'utf8')) as Record<string, Answer>));

const app = uWS.App().get('/v1/grants/:id', (res, req) => {
  const answer = answers.get(req.getParameter(0) ?? '');
  res.cork(() => {
    if (!answer) {
      res.writeStatus('404 Not Found').end('{"error":{"code":"not_found","message":"no grant with this id"}}');
      return;
    }
    res.writeStatus(answer.status);
    for (const [k, v] of answer.headers) res.writeHeader(k, v);
    res.end(answer.body);
  });
});

app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`bare: cannot listen on ${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ code: 'BenchListening', port: uWS.us_socket_local_port(socket) })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
