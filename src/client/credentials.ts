/**
 * The client's token: which one to open a socket with, and renewing it in-band (`auth`)
 * before it expires, so a connection outlives any one token.
 *
 * A refresh awaits `getToken`; when it resumes, it applies only if the connection it started
 * on is still the current one (same `generation`, still welcomed; see connection.ts).
 */
import type { Connection } from './connection.js';
import { ClientErrorCode, LiveError } from './errors.js';
import type { Timers } from './timers.js';
import { tokenExpiresAt } from './token.js';

/** Ask `getToken` for a new token before connecting when the current one has less than this left. */
const MIN_TOKEN_LIFETIME_MS = 5_000;
/** Refresh in-band at this fraction of the remaining lifetime (unless `expiring` comes first). */
const REFRESH_AT = 0.8;
/** Below this remaining lifetime, leave the refresh to the server's `expiring` (see scheduleRefresh). */
const MIN_REFRESH_LEAD_MS = 1_000;

/** What a refresh needs of the rest of the client. */
export interface CredentialsHooks {
  readonly link: Pick<Connection, 'generation' | 'welcomed'>;
  /** Sends the fresh token on the current connection. */
  auth(token: string): void;
  error(error: LiveError): void;
}

/** The token in use, its expiry, and the in-band refresh (timer 'refresh'). */
export class Credentials {
  private token: string | undefined;
  /** When the token in use expires (ms), from `welcome`/`auth_ok` or the token itself. */
  private expiry: number | undefined;
  /** The server refused the token (close 4001 or HTTP 401): get another before reconnecting. */
  private refused = false;
  private refreshing = false;

  constructor(
    token: string | undefined,
    private readonly getToken: (() => Promise<string> | string) | undefined,
    private readonly timers: Timers,
    private readonly hooks: CredentialsHooks,
  ) {
    this.token = token;
    this.expiry = token === undefined ? undefined : tokenExpiresAt(token);
  }

  /** The token in use (the default reload reads REST with it). */
  get current(): string | undefined {
    return this.token;
  }

  /** Whether a refused or expired token can be replaced: a `getToken` was given. */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** The token to connect with, asking `getToken` when there is none or it is refused or nearly expired. */
  async usable(): Promise<string> {
    const nearlyExpired = this.expiry !== undefined && this.expiry - Date.now() < MIN_TOKEN_LIFETIME_MS;
    if (this.getToken && (this.token === undefined || this.refused || nearlyExpired)) {
      const token = await this.getToken();
      if (typeof token !== 'string' || token.length === 0) throw new LiveError(ClientErrorCode.TokenUnavailable, 'getToken returned no token');
      this.set(token);
      this.refused = false;
      return token;
    }
    if (this.token === undefined) throw new LiveError(ClientErrorCode.TokenUnavailable, 'no token');
    if (this.expiry !== undefined && this.expiry <= Date.now()) throw new LiveError(ClientErrorCode.TokenExpired, 'the token has expired and there is no getToken');
    if (this.refused) throw new LiveError(ClientErrorCode.TokenRejected, 'the server refused the token and there is no getToken');
    return this.token;
  }

  /** The server refused the token: the next connection asks `getToken` first. */
  markRefused(): void {
    this.refused = true;
  }

  /** The server accepted the token (`welcome`) until `expiresAt`: schedule its refresh. */
  accepted(expiresAt: number): void {
    this.expiry = expiresAt;
    this.scheduleRefresh(expiresAt);
  }

  /** The server took a refreshed token (`auth_ok`). */
  authenticated(expiresAt: number): void {
    this.refreshing = false;
    this.accepted(expiresAt);
  }

  /** The server refused a refreshed token (an `error` answering `auth`); the connection keeps the old one. */
  authFailed(): void {
    this.refreshing = false;
  }

  /** A socket starts or ended: a refresh of the one before no longer counts. */
  reset(): void {
    this.refreshing = false;
    this.timers.cancel('refresh');
  }

  /** Gets a fresh token and sends it in-band (`auth`); the connection stays as it is. */
  async refresh(): Promise<void> {
    const link = this.hooks.link;
    if (!this.getToken || this.refreshing || !link.welcomed) return;
    this.refreshing = true;
    const generation = link.generation;
    let token: string;
    try {
      token = await this.getToken();
      if (typeof token !== 'string' || token.length === 0) throw new Error('getToken returned no token');
    } catch (err) {
      if (generation !== link.generation) return;
      this.refreshing = false;
      this.hooks.error(new LiveError(ClientErrorCode.TokenUnavailable, 'getToken failed; the connection keeps its token until it expires', { cause: err }));
      return;
    }
    if (generation !== link.generation || !link.welcomed) return;
    this.set(token);
    this.hooks.auth(token);
  }

  private scheduleRefresh(expiresAt: number): void {
    this.timers.cancel('refresh');
    if (!this.getToken) return;
    const remaining = expiresAt - Date.now();
    // A token that already looks (nearly) expired by our clock, just after the server took
    // it, means our clock is ahead: a timer would refresh in a loop. The server's
    // `expiring`, sent by its own clock, triggers the refresh instead.
    if (remaining < MIN_REFRESH_LEAD_MS) return;
    this.timers.set('refresh', remaining * REFRESH_AT, () => void this.refresh());
  }

  private set(token: string): void {
    this.token = token;
    this.expiry = tokenExpiresAt(token);
  }
}
