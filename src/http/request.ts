/**
 * What a route sees of a request, and what it answers. uWebSockets.js's request object is
 * only valid during the synchronous handler, so everything a route reads (parameters,
 * query, headers) is copied into a `Request` first.
 */

/** Headers a route may read (copied out of uWS for every request, so the list is short). */
export type RequestHeader = 'authorization' | 'origin' | 'if-none-match';

/** What a route sees of a request: copied out of uWS before any await. */
export interface Request {
  method: string;
  url: string;
  query: string;
  params: string[];
  /** The peer's IP address as text (a proxy's, behind one). */
  address: string;
  header(name: RequestHeader): string | undefined;
  /** Aborted when the client goes away before the answer. */
  signal: AbortSignal;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Text or bytes; undefined for an empty body. */
  body?: string | Uint8Array;
  contentType?: string;
}

export type Handler = (req: Request) => Promise<Reply> | Reply;

/** A request as copied out of uWS; its AbortSignal is only made for a route that asks. */
export class Incoming implements Request {
  readonly method = 'GET';
  aborted = false;
  private controller: AbortController | undefined;

  private addressText: string | undefined;

  constructor(
    /** The route's pattern (`/v1/grants/:id`); `url` puts the parameters in. */
    private readonly pattern: string,
    readonly query: string,
    readonly params: string[],
    /** Reads the peer address from uWS: valid until the answer is written or the client goes away. */
    private readonly readAddress: () => string,
    private readonly authorization: string,
    private readonly origin: string,
    private readonly ifNoneMatch: string,
  ) {}

  /** The path asked for (for logs): the pattern with its parameters. */
  get url(): string {
    let i = 0;
    return this.pattern.replace(/:[A-Za-z]+/g, () => this.params[i++] ?? '');
  }

  // Read on first use, before the answer: only a request without a valid token is limited
  // by its address. A request whose client went away has none.
  get address(): string {
    return (this.addressText ??= this.aborted ? '' : this.readAddress());
  }

  header(name: RequestHeader): string | undefined {
    const value = name === 'authorization' ? this.authorization : name === 'origin' ? this.origin : this.ifNoneMatch;
    return value === '' ? undefined : value;
  }

  // Made on first use: an AbortController per request cost about 3 µs on the cached path.
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.controller?.abort();
  }
}
