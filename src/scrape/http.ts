/**
 * One HTTP exchange for the fetcher: a single GET through undici with our headers, the
 * body read up to `maxBytes` (after decompression, so a zip bomb is refused too), and
 * decoded to text by the charset the response declares.
 *
 * No politeness lives here: no retries, no pacing, no robots.txt. The caller (fetcher.ts)
 * decides when a request may go out and what its answer means.
 */
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { ResponseTooLargeError } from './errors.js';

/** A response as the fetcher hands it on: headers lower-cased, the body decoded to text. */
export interface FetchResult {
  /** The URL finally answered (after redirects). */
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** True when the server answered 304 and `body` is the one kept from the last fetch. */
  notModified: boolean;
}

/** What an exchange needs to know of the fetcher's options. */
export interface HttpClientOptions {
  /** The whole User-Agent header. */
  userAgent: string;
  /** Connect, headers, body and whole-request timeout, in milliseconds. */
  timeoutMs: number;
  /** Largest body accepted, counted after decompression. */
  maxBytes: number;
}

/** Sends single GETs over one keep-alive connection per origin. */
export class HttpClient {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly options: HttpClientOptions) {
    // One connection per origin: the lane already serialises, this keeps it visible on the wire.
    this.dispatcher = new Agent({ connections: 1, keepAliveTimeout: 10_000, connect: { timeout: options.timeoutMs } });
  }

  /**
   * One GET of `url`, whatever its status. Throws ResponseTooLargeError past `maxBytes`,
   * or undici's error when the network fails or the timeout passes.
   */
  async get(url: URL, extraHeaders: Record<string, string>): Promise<FetchResult> {
    const { timeoutMs, maxBytes } = this.options;
    const response = await request(url, {
      method: 'GET',
      dispatcher: this.dispatcher,
      headers: {
        'user-agent': this.options.userAgent,
        accept: 'text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.8,*/*;q=0.5',
        'accept-encoding': 'gzip, deflate, br',
        'accept-language': 'en-AU,en;q=0.9',
        ...extraHeaders,
      },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const declared = Number(headers['content-length']);
    if (!headers['content-encoding'] && Number.isFinite(declared) && declared > maxBytes) {
      response.body.destroy();
      throw new ResponseTooLargeError(url.href, maxBytes);
    }
    const bytes = await readLimited(response.body, headers['content-encoding'], maxBytes, url.href);
    return { url: url.href, status: response.statusCode, headers, body: decode(bytes, headers['content-type']), notModified: false };
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function decompressor(encoding: string | undefined): Transform | undefined {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/** Reads a body, decompressed, and fails as soon as it passes `maxBytes` (a zip bomb included). */
async function readLimited(body: Readable, encoding: string | undefined, maxBytes: number, url: string): Promise<Buffer> {
  const inflate = decompressor(encoding);
  let source: AsyncIterable<Buffer> = body;
  if (inflate) {
    body.on('error', (err) => inflate.destroy(err));
    source = body.pipe(inflate);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) throw new ResponseTooLargeError(url, maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    body.destroy();
    inflate?.destroy();
    throw err;
  }
  return Buffer.concat(chunks);
}

function decode(bytes: Buffer, contentType: string | undefined): string {
  const charset = /charset=["']?([\w-]+)/i.exec(contentType ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}
