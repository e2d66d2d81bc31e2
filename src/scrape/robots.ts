/**
 * robots.txt as RFC 9309 reads it: groups of `user-agent` lines followed by `allow` /
 * `disallow` rules; the group naming our product token wins over `*`; among the rules
 * matching a path the longest pattern wins and `allow` wins a tie; `*` matches any run of
 * characters and a trailing `$` anchors the end. `Crawl-delay` (not in the RFC, but a
 * site's stated wish) is read too, and the fetcher waits at least that long between
 * requests to the host.
 */

export interface RobotsRule {
  allow: boolean;
  pattern: string;
  regex: RegExp;
}

export interface Robots {
  /** Whether `pathAndQuery` (e.g. `/grants?page=2`) may be fetched. */
  allowed(pathAndQuery: string): boolean;
  /** Crawl-delay in milliseconds for our group, if the file gives one. */
  crawlDelayMs: number | undefined;
}

interface Group {
  agents: string[];
  rules: RobotsRule[];
  crawlDelayMs: number | undefined;
}

export const ALLOW_ALL: Robots = { allowed: () => true, crawlDelayMs: undefined };
export const DISALLOW_ALL: Robots = { allowed: (path) => path === '/robots.txt', crawlDelayMs: undefined };

/** Parses a robots.txt body for the product token `agent` (e.g. `NavImpactLiveBot`). */
export function parseRobots(text: string, agent: string): Robots {
  const groups: Group[] = [];
  let current: Group | undefined;
  let lastWasAgent = false;
  // RFC 9309 2.5: parsers must read at least 500 KiB; more than that is ignored.
  for (const raw of text.slice(0, 512 * 1024).split(/\r\n|\r|\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'user-agent') {
      if (!current || !lastWasAgent) {
        current = { agents: [], rules: [], crawlDelayMs: undefined };
        groups.push(current);
      }
      current.agents.push(value.toLowerCase());
      lastWasAgent = true;
      continue;
    }
    lastWasAgent = false;
    if (!current) continue;
    if (key === 'allow' || key === 'disallow') {
      // An empty disallow allows everything: no rule.
      if (value === '') continue;
      current.rules.push({ allow: key === 'allow', pattern: value, regex: patternRegex(value) });
    } else if (key === 'crawl-delay') {
      const seconds = Number(value);
      if (Number.isFinite(seconds) && seconds >= 0) current.crawlDelayMs = Math.round(seconds * 1000);
    }
  }
  const token = agent.toLowerCase();
  let chosen = groups.filter((g) => g.agents.includes(token));
  if (chosen.length === 0) chosen = groups.filter((g) => g.agents.includes('*'));
  const rules = chosen.flatMap((g) => g.rules);
  const crawlDelayMs = chosen.map((g) => g.crawlDelayMs).find((d) => d !== undefined);
  return {
    crawlDelayMs,
    allowed(pathAndQuery: string): boolean {
      if (pathAndQuery === '/robots.txt') return true;
      const path = normalisePath(pathAndQuery);
      let best: RobotsRule | undefined;
      for (const rule of rules) {
        if (!rule.regex.test(path)) continue;
        if (!best || rule.pattern.length > best.pattern.length || (rule.pattern.length === best.pattern.length && rule.allow && !best.allow)) {
          best = rule;
        }
      }
      return best ? best.allow : true;
    },
  };
}

function patternRegex(pattern: string): RegExp {
  const anchored = pattern.endsWith('$');
  const body = normalisePath(anchored ? pattern.slice(0, -1) : pattern);
  const source = body
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}${anchored ? '$' : ''}`);
}

/** Percent-encodes what a browser would, so `/a b` in a rule matches `/a%20b` in a URL. */
function normalisePath(path: string): string {
  try {
    return encodeURI(decodeURI(path));
  } catch {
    return path;
  }
}
