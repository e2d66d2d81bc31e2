/**
 * The one redaction of credentials (issue 10 item 4), for every setting whose value is a
 * URL (`*_URL`, `*_DSN`: DATABASE_URL, REDIS_URL, NATS_URL and its comma lists, JWKS_URL,
 * SENTRY_DSN, and any added later) and for the plain secrets (JWT_SECRET, NATS_PASSWORD, ...).
 *
 * Two layers:
 * - `redactUrl` hides the user info of each URL of a value, where code prints a URL on
 *   purpose (the configuration logged at start-up, a scraper's connection error).
 * - `processRedactor` holds the credentials this process was configured with and `scrub`
 *   removes them from any text: every line the service's commands write to stderr
 *   (cli/run.ts) and every log line (the logger's `scrub` option) passes through it, so a
 *   credential that a library puts in an error message, a cause or a stack never leaves the
 *   process, whatever the path. Programs register their secrets before anything can fail.
 *
 * Credentials shorter than `MIN_SECRET_LENGTH` are not scrubbed from free text (a one-letter
 * password would blank every such letter of every log line); `redactUrl` still hides them
 * in URLs. docs/security.md lists this.
 */

/** Whether the setting `name` holds a URL (or a comma list of them) that may carry credentials. */
export function isUrlSetting(name: string): boolean {
  return /(?:_URL|_DSN)$/.test(name);
}

/** Shortest credential removed from free text by `Redactor.scrub`. */
export const MIN_SECRET_LENGTH = 4;

/** Optional scheme, then the user info up to the last `@` of the authority. */
const USER_INFO = /^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)([^/?#@\s]*(?:@[^/?#@\s]*)*)@/;

/**
 * `value` with the credentials of each of its comma-separated URLs replaced by `***`: the
 * password of `scheme://user:password@host` (the user stays, it helps to tell accounts
 * apart), a lone user of `scheme://token@host` (NATS token auth, a Sentry key). Entries
 * without a scheme (`user:password@host:4222`) too. Nothing else of the text changes.
 */
export function redactUrl(value: string): string {
  return value
    .split(',')
    .map((part) =>
      part.replace(USER_INFO, (_all, scheme: string, info: string) => {
        const colon = info.indexOf(':');
        return `${scheme}${colon >= 0 ? `${info.slice(0, colon)}:***` : '***'}@`;
      }),
    )
    .join(',');
}

/** The credentials in the URLs of `value`: each password, or a lone user (a token), as written and decoded. */
export function urlCredentials(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const info = USER_INFO.exec(part)?.[2];
    if (!info) continue;
    const colon = info.indexOf(':');
    const secret = colon >= 0 ? info.slice(colon + 1) : info;
    if (!secret) continue;
    out.push(secret);
    try {
      out.push(decodeURIComponent(secret));
    } catch {
      // Not valid percent-encoding: the text as written is what a library would print.
    }
  }
  return out;
}

/** Credentials known to a process, removed from whatever text it is about to write. */
export class Redactor {
  private secrets: string[] = [];

  /** Adds plain secret values (a JWT secret, a password); short ones are ignored (see the module note). */
  add(values: Iterable<string | undefined>): void {
    const next = new Set(this.secrets);
    for (const value of values) {
      if (value === undefined || value.length < MIN_SECRET_LENGTH) continue;
      next.add(value);
      // As it appears inside a JSON log line.
      next.add(JSON.stringify(value).slice(1, -1));
      next.add(encodeURIComponent(value));
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...next].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  }

  /**
   * Adds the credentials of a set of settings (the raw environment, or a parsed
   * configuration): those of every URL-valued setting, and the whole value of each name in
   * `secretKeys`.
   */
  addSettings(settings: Readonly<Record<string, unknown>>, secretKeys: readonly string[]): void {
    for (const [key, value] of Object.entries(settings)) {
      if (typeof value !== 'string' || value === '') continue;
      if (isUrlSetting(key)) this.add(urlCredentials(value));
      else if (secretKeys.includes(key)) this.add([value]);
    }
  }

  /** `text` with every known credential replaced by `***`. */
  readonly scrub = (text: string): string => {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join('***');
    return out;
  };
}

/**
 * The process's redactor: main.ts and the CLIs register their settings into it first
 * thing; cli/run.ts scrubs stderr with it and the loggers they create scrub with it.
 */
export const processRedactor = new Redactor();
