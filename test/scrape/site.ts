/**
 * A stand-in for a grant site: a local node:http server on a free port serving fixture
 * pages and scripted answers, recording every request it gets. Outside sites cannot be
 * reached from here, and should not be hammered by tests anyway.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/scrape/clock.js';

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Drop the connection without answering (a network error). */
  destroy?: boolean;
}

export type Handler = (req: IncomingMessage, hit: number) => Reply | Promise<Reply>;

export interface SeenRequest {
  path: string;
  headers: IncomingMessage['headers'];
  /** The injected clock's time when the request arrived (real time without one). */
  at: number;
}

export const FIXTURES = new URL('./fixtures/', import.meta.url);

export function fixture(path: string): string {
  return readFileSync(new URL(path, FIXTURES), 'utf8');
}

export class FixtureSite {
  readonly requests: SeenRequest[] = [];
  private readonly routes = new Map<string, Handler>();
  private readonly hitsByPath = new Map<string, number>();
  private active = 0;
  /** Most requests in flight at once. */
  maxConcurrent = 0;
  clock: Pick<Clock, 'now'> = { now: () => Date.now() };
  private readonly waiters: { test: (r: SeenRequest) => boolean; resolve: () => void }[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FixtureSite> {
    let site: FixtureSite | undefined;
    const server = createServer((req, res) => void site!.handle(req, res));
    site = new FixtureSite(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // Default: a robots.txt that allows everything.
    site.route('/robots.txt', { body: 'User-agent: *\nDisallow:\n', headers: { 'content-type': 'text/plain' } });
    return site;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** Answers `pathAndQuery` with a handler, one reply, or replies in turn (the last one repeats). */
  route(pathAndQuery: string, answer: Handler | Reply | Reply[]): this {
    let handler: Handler;
    if (typeof answer === 'function') handler = answer;
    else if (Array.isArray(answer)) handler = (_req, hit) => answer[Math.min(hit - 1, answer.length - 1)]!;
    else handler = () => answer;
    this.routes.set(pathAndQuery, handler);
    return this;
  }

  /** Serves a fixture file (relative to test/scrape/fixtures) as HTML or JSON. */
  file(pathAndQuery: string, fixturePath: string, headers: Record<string, string> = {}): this {
    const type = fixturePath.endsWith('.json') ? 'application/json' : 'text/html; charset=utf-8';
    return this.route(pathAndQuery, { body: fixture(fixturePath), headers: { 'content-type': type, ...headers } });
  }

  hits(pathAndQuery: string): number {
    return this.hitsByPath.get(pathAndQuery) ?? 0;
  }

  /** Resolves when a request passing `test` has arrived (already or later). */
  waitForRequest(test: (r: SeenRequest) => boolean): Promise<void> {
    if (this.requests.some(test)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const seen = { path, headers: req.headers, at: this.clock.now() };
    this.requests.push(seen);
    const hit = (this.hitsByPath.get(path) ?? 0) + 1;
    this.hitsByPath.set(path, hit);
    for (const w of [...this.waiters]) {
      if (w.test(seen)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    try {
      const handler = this.routes.get(path);
      const reply: Reply = handler ? await handler(req, hit) : { status: 404, body: 'not found', headers: { 'content-type': 'text/plain' } };
      // Give a concurrent request the chance to overlap, were the fetcher to allow it.
      await new Promise((resolve) => setImmediate(resolve));
      if (reply.destroy) {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'text/html; charset=utf-8' });
      res.end(reply.body ?? '');
    } finally {
      this.active--;
    }
  }
}

/** A clock that never waits: `sleep` moves time forward and records how long was asked. */
export class FakeClock implements Clock {
  t = Date.now();
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.sleeps.push(ms);
    this.t += ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export const CLOUDFLARE_CHALLENGE = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content"><h1 class="zone-name-title h1">www.grants.gov.au</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2><noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript></div></div>
<script>(function(){window._cf_chl_opt={cvId: '3',cZone: "www.grants.gov.au",cType: 'managed'};var cpo = document.createElement('script');cpo.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f';document.getElementsByTagName('head')[0].appendChild(cpo);}());</script>
</body></html>`;
