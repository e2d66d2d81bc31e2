/**
 * The two rule sets the fetcher decides with: robots.txt matching (RFC 9309) and telling
 * a challenge page from an ordinary page that merely carries a bot-wall script or a
 * CAPTCHA-protected form (which must not stop a scraper).
 */
import { describe, expect, it } from 'vitest';
import { detectChallenge } from '../../src/scrape/block.js';
import { parseRobots } from '../../src/scrape/robots.js';
import { CLOUDFLARE_CHALLENGE } from './site.js';

describe('scrape rules - robots.txt', () => {
  it('robots - the group naming our token wins over *, case-insensitively, with longest-match precedence', () => {
    const robots = parseRobots(
      ['# comment', 'User-agent: *', 'Disallow: /', '', 'User-agent: navimpactlivebot', 'User-agent: OtherBot', 'Disallow: /grants/', 'Allow: /grants/open', 'Crawl-delay: 10'].join('\r\n'),
      'NavImpactLiveBot',
    );
    expect(robots.allowed('/')).toBe(true);
    expect(robots.allowed('/grants/closed')).toBe(false);
    expect(robots.allowed('/grants/open?page=2')).toBe(true);
    expect(robots.crawlDelayMs).toBe(10_000);
  });

  it('robots - wildcards, end anchors, an allow winning a tie, an empty disallow, and robots.txt itself', () => {
    const robots = parseRobots(['User-agent: *', 'Disallow: /*.pdf$', 'Disallow: /search', 'Allow: /search', 'Disallow: /private*/x', 'Disallow:'].join('\n'), 'NavImpactLiveBot');
    expect(robots.allowed('/files/guide.pdf')).toBe(false);
    expect(robots.allowed('/files/guide.pdf?download=1')).toBe(true);
    expect(robots.allowed('/search?q=grants')).toBe(true);
    expect(robots.allowed('/private-area/x/y')).toBe(false);
    expect(robots.allowed('/robots.txt')).toBe(true);
    expect(parseRobots('User-agent: *\nDisallow: /\n', 'NavImpactLiveBot').allowed('/robots.txt')).toBe(true);
    expect(parseRobots('', 'NavImpactLiveBot').allowed('/anything')).toBe(true);
  });
});

describe('scrape rules - block detection', () => {
  const html = { 'content-type': 'text/html; charset=utf-8' };

  it('block - challenge and block pages are recognised on any status', () => {
    expect(detectChallenge({ status: 403, headers: html, body: CLOUDFLARE_CHALLENGE })).toMatch(/Just a moment/);
    expect(detectChallenge({ status: 200, headers: html, body: CLOUDFLARE_CHALLENGE })).toMatch(/Just a moment/);
    expect(detectChallenge({ status: 403, headers: html, body: '<title>Attention Required! | Cloudflare</title>' })).toMatch(/Attention Required/);
    expect(detectChallenge({ status: 403, headers: { ...html, 'cf-mitigated': 'challenge' }, body: '' })).toMatch(/cf-mitigated/);
    expect(detectChallenge({ status: 403, headers: html, body: '<html><head><title>Access Denied</title></head><body>Reference #18.abc</body></html>' })).toMatch(/Akamai/);
    expect(detectChallenge({ status: 200, headers: html, body: '<title>Verify you are human</title>' })).toMatch(/CAPTCHA/);
    expect(detectChallenge({ status: 429, headers: html, body: '<div class="g-recaptcha" data-sitekey="x"></div>' })).toMatch(/reCAPTCHA/);
  });

  it('block - an ordinary page with an injected bot-management script or a CAPTCHA form is not a block', () => {
    const page = `<html><head><title>Community Sport Infrastructure Fund | vic.gov.au</title></head><body>
      <h1>Community Sport Infrastructure Fund</h1>
      <form class="contact"><div class="g-recaptcha" data-sitekey="x"></div></form>
      <script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script></body></html>`;
    expect(detectChallenge({ status: 200, headers: html, body: page })).toBeUndefined();
    expect(detectChallenge({ status: 404, headers: html, body: page })).toBeUndefined();
    expect(detectChallenge({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"title":"Just a moment..."}' })).toBeUndefined();
  });
});
