/**
 * A stand-in for Sentry's ingest endpoint: a local HTTP server that a process reaches
 * through SENTRY_DSN=http://publickey@127.0.0.1:<port>/<project>; it records every
 * envelope it receives and answers 200.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface Envelope {
  path: string;
  header: Record<string, unknown>;
  items: { header: Record<string, unknown>; payload: unknown }[];
  text: string;
}

/** A Sentry envelope is newline-separated JSON: envelope header, then item header + payload pairs. */
export function parseEnvelope(path: string, body: string): Envelope {
  const lines = body.split('\n').filter((l) => l.length > 0);
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  const items: Envelope['items'] = [];
  for (let i = 1; i + 1 < lines.length; i += 2) {
    items.push({ header: JSON.parse(lines[i]!) as Record<string, unknown>, payload: JSON.parse(lines[i + 1]!) });
  }
  return { path, header, items, text: body };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
}

/** A stand-in for Sentry's ingest: records every envelope, answers 200. */
export class FakeSentry {
  readonly envelopes: Envelope[] = [];
  private readonly waiters: { test: (e: Envelope) => boolean; resolve: (e: Envelope) => void }[] = [];
  readonly server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      // Recorded before the answer: a client that waits for the answer (Sentry.flush) can
      // only exit after the envelope is here.
      const envelope = parseEnvelope(req.url ?? '', body);
      this.envelopes.push(envelope);
      for (const w of [...this.waiters]) {
        if (w.test(envelope)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(envelope);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  /** The first envelope (already received or to come) that passes `test`. */
  next(test: (e: Envelope) => boolean): Promise<Envelope> {
    const seen = this.envelopes.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
