/**
 * The pages the gateway serves itself (docs/web.md): the live grants board at `/`, the ops
 * page at `/ops`, and their bundles at `/assets/<name>-<hash>.<ext>`, all read once from
 * WEB_DIR (`npm run build:web`) into memory.
 *
 * Pages are answered with `no-cache` (their bundles' names change with every build) and a
 * strict Content-Security-Policy: scripts and styles only from this origin and never
 * inline, connections only to this origin and TOKEN_URL's, no framing. Assets carry
 * their content hash in their name, so they are `immutable` for a year. Without a build
 * every one of these paths answers 503 `web_not_built` and the gateway logs `WebNotBuilt`
 * once; the rest of the gateway works as before.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { HttpErrorCode, LogCode } from '../domain/codes.js';
import { errorBody } from '../http/errors.js';
import { statusLine } from '../http/status.js';
import type { HttpResponse, TemplatedApp } from '../http/uws.js';
import type { Logger } from '../observability/log.js';

export interface PagesOptions {
  WEB_DIR: string;
  TOKEN_URL?: string | undefined;
}

interface File {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const IMMUTABLE = 'public, max-age=31536000, immutable';
const COMMON: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The Content-Security-Policy of the pages: nothing inline, nothing from elsewhere but the token endpoint. */
export function contentSecurityPolicy(tokenUrl: string | undefined): string {
  const connect = ["'self'", ...(tokenUrl ? [new URL(tokenUrl).origin] : [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export class Pages {
  private readonly pages = new Map<string, File>();
  private readonly assets = new Map<string, File>();
  private readonly csp: string;

  constructor(options: PagesOptions, log: Logger) {
    this.csp = contentSecurityPolicy(options.TOKEN_URL);
    const dir = resolve(options.WEB_DIR);
    try {
      const tokenUrl = escapeAttribute(options.TOKEN_URL ?? '');
      for (const [path, file] of [['/', 'index.html'], ['/ops', 'ops.html']] as const) {
        const html = readFileSync(join(dir, file), 'utf8').replace('{{tokenUrl}}', tokenUrl);
        this.pages.set(path, { body: Buffer.from(html), type: 'text/html; charset=utf-8' });
      }
      for (const name of readdirSync(join(dir, 'assets'))) {
        this.assets.set(name, { body: readFileSync(join(dir, 'assets', name)), type: TYPES[extname(name)] ?? 'application/octet-stream' });
      }
    } catch (err) {
      this.pages.clear();
      this.assets.clear();
      log.warn({ code: LogCode.WebNotBuilt, dir, err }, 'no built pages: run npm run build:web; / and /ops answer 503 meanwhile');
    }
  }

  mount(app: TemplatedApp): void {
    for (const path of ['/', '/ops', '/ops/']) {
      app.get(path, (res) => {
        const page = this.pages.get(path === '/ops/' ? '/ops' : path);
        if (!page) return notBuilt(res);
        write(res, page, { 'cache-control': 'no-cache', 'content-security-policy': this.csp, 'x-frame-options': 'DENY' });
      });
    }
    app.get('/assets/:file', (res, req) => {
      const name = req.getParameter(0) ?? '';
      const file = this.assets.get(name);
      if (!file) return this.pages.size === 0 ? notBuilt(res) : notFound(res);
      write(res, file, { 'cache-control': IMMUTABLE });
    });
  }
}

function write(res: HttpResponse, file: File, headers: Record<string, string>): void {
  res.cork(() => {
    res.writeStatus(statusLine(200)).writeHeader('content-type', file.type);
    for (const [k, v] of Object.entries({ ...COMMON, ...headers })) res.writeHeader(k, v);
    res.end(file.body);
  });
}

function notBuilt(res: HttpResponse): void {
  res.cork(() => res.writeStatus(statusLine(503)).writeHeader('content-type', 'application/json').end(errorBody(HttpErrorCode.WebNotBuilt, 'the pages are not built: run npm run build:web')));
}

function notFound(res: HttpResponse): void {
  res.cork(() => res.writeStatus(statusLine(404)).writeHeader('content-type', 'application/json').end(errorBody(HttpErrorCode.NotFound, 'no such asset')));
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
