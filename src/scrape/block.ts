/**
 * Recognising a site that refuses us. We never try to get past a block (no other
 * identity, no headless browser solving a challenge): we stop and tell operators.
 *
 * Markers are those of the common bot walls in front of Australian government sites:
 * Cloudflare ("Just a moment...", "Attention Required! | Cloudflare", `cf-mitigated`,
 * `/cdn-cgi/challenge-platform/`), Akamai ("Access Denied" with a "Reference #"),
 * Imperva/Incapsula, AWS WAF, and CAPTCHA widgets (reCAPTCHA, hCaptcha, Turnstile).
 */

export interface ResponseLike {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The start of the body, decoded as text (only the first 64 KiB are looked at). */
  body: string;
}

/**
 * `strong` markers are interstitial pages in their own right and count on any status.
 * Weak ones also appear inside ordinary pages (Cloudflare injects its challenge-platform
 * script into normal pages; a contact form may carry a reCAPTCHA), so they count only on
 * a refusal status (403, 429, 503).
 */
const BODY_MARKERS: { re: RegExp; what: string; strong: boolean }[] = [
  { re: /<title>\s*Just a moment\.\.\.\s*<\/title>/i, what: 'Cloudflare challenge ("Just a moment...")', strong: true },
  { re: /<title>[^<]*Attention Required![^<]*<\/title>/i, what: 'Cloudflare block ("Attention Required")', strong: true },
  { re: /window\._cf_chl_opt/i, what: 'Cloudflare challenge script', strong: true },
  { re: /<title>\s*Access Denied\s*<\/title>[\s\S]*Reference\s*#/i, what: 'Akamai "Access Denied"', strong: true },
  { re: /_Incapsula_Resource|Incapsula incident ID/i, what: 'Imperva/Incapsula block', strong: true },
  { re: /<title>[^<]*\b(captcha|are you a robot|verify you are human|bot verification)\b[^<]*<\/title>/i, what: 'CAPTCHA page', strong: true },
  { re: /\/cdn-cgi\/challenge-platform\/|cf-chl-|cf_chl_/i, what: 'Cloudflare challenge platform', strong: false },
  { re: /awswaf|aws-waf-token|AwsWafIntegration/i, what: 'AWS WAF challenge', strong: false },
  { re: /class=["'][^"']*\bg-recaptcha\b|www\.google\.com\/recaptcha\//i, what: 'reCAPTCHA', strong: false },
  { re: /class=["'][^"']*\bh-captcha\b|hcaptcha\.com\/1\/api\.js/i, what: 'hCaptcha', strong: false },
  { re: /challenges\.cloudflare\.com\/turnstile/i, what: 'Cloudflare Turnstile', strong: false },
];

const REFUSAL = new Set([403, 429, 503]);

function header(headers: ResponseLike['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Names the challenge a response is, or undefined for an ordinary page. */
export function detectChallenge(response: ResponseLike): string | undefined {
  const mitigated = header(response.headers, 'cf-mitigated');
  if (mitigated && /challenge/i.test(mitigated)) return 'Cloudflare challenge (cf-mitigated)';
  const type = header(response.headers, 'content-type') ?? '';
  if (type && !/html|text\/plain/i.test(type)) return undefined;
  const head = response.body.slice(0, 64 * 1024);
  const refusal = REFUSAL.has(response.status);
  for (const marker of BODY_MARKERS) if ((marker.strong || refusal) && marker.re.test(head)) return marker.what;
  return undefined;
}
