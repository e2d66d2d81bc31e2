/**
 * The gateway's in-process layer in front of Redis, for grants by id (docs/cache.md).
 *
 * It is kept exact by the gateway's own feed of stream GRANTS: every change event drops the
 * entry of its grant unless the entry already holds that version or a newer one, so an
 * entry is stale for at most the feed's lag (commit -> relay -> NATS -> this process, a few
 * milliseconds when healthy), never longer than the Redis layer would be.
 *
 * # The stale-set race, here too
 * A request may read an older version (from Postgres or Redis) before a change, and fill
 * after the feed delivered that change. The layer remembers the newest version the feed
 * announced for each grant for twice the fill window, and refuses a fill below it; a fill
 * whose read began more than the fill window ago is refused outright. So a fill older than
 * an announced change can never enter.
 *
 * Bounded by entries and by characters of JSON (oldest entries leave first). While the feed
 * is not running (`live()` false), nothing is served or filled here.
 */
import type { Cached } from './store.js';

/** Characters of JSON the layer holds at most, whatever CACHE_LOCAL_ENTRIES says. */
export const LOCAL_MAX_CHARS = 16_000_000;

interface Entry extends Cached {
  at: number;
}

export interface LocalCacheOptions {
  maxEntries: number;
  maxChars: number;
  ttlMs: number;
  /** The fill window (store.ts fillWindowMs). */
  windowMs: number;
  /** Whether the feed that keeps this layer exact is running. */
  live: () => boolean;
}

export class LocalGrants {
  private readonly entries = new Map<string, Entry>();
  private chars = 0;
  /** Newest version the feed announced per grant, in the order announced (oldest first). */
  private readonly announced = new Map<string, { version: number; at: number }>();

  constructor(private readonly options: LocalCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string, now = Date.now()): Cached | undefined {
    if (!this.options.live()) return undefined;
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (now - entry.at > this.options.ttlMs) {
      this.drop(id, entry);
      return undefined;
    }
    return entry;
  }

  /** Offers what a request read (from Redis or Postgres) at `readAt`. */
  fill(id: string, version: number, json: string, readAt: number, now = Date.now()): void {
    if (!this.options.live() || now - readAt > this.options.windowMs) return;
    const announced = this.announced.get(id);
    if (announced && version < announced.version) return;
    const current = this.entries.get(id);
    if (current) {
      if (current.version >= version) return;
      this.drop(id, current);
    }
    this.entries.set(id, { version, json, at: now });
    this.chars += json.length;
    for (const [oldId, old] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && this.chars <= this.options.maxChars) break;
      this.drop(oldId, old);
    }
  }

  /** A change event from the feed. */
  changed(id: string, version: number, now = Date.now()): void {
    const previous = this.announced.get(id);
    this.announced.delete(id);
    this.announced.set(id, { version: Math.max(version, previous?.version ?? 0), at: now });
    for (const [oldId, a] of this.announced) {
      if (a.at > now - 2 * this.options.windowMs) break;
      this.announced.delete(oldId);
    }
    const entry = this.entries.get(id);
    if (entry && entry.version < version) this.drop(id, entry);
  }

  /** Forgets every entry and announced version (stream GRANTS broke: versions may go back after a restore). */
  clear(): void {
    this.entries.clear();
    this.announced.clear();
    this.chars = 0;
  }

  private drop(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.chars -= entry.json.length;
  }
}
