/**
 * The cache's Lua scripts. Each runs atomically in Redis, which is what makes the
 * version rules hold however reads, fills and invalidations interleave.
 *
 * # Values
 * - `<prefix>g:<id>`: `v<version>\n<grant JSON>` (an entry) or `t<version>` (a tombstone:
 *   versions below this one are stale and may not be filled).
 * - `<prefix>l:<hash>`: `v<seq>\n<page JSON>`, a list page consistent with stream sequence `seq`
 *   (its "version": a page from a later snapshot replaces one from an earlier).
 * - `<prefix>l:index`: the list pages stored, by fill time: at most CACHE_LIST_MAX_PAGES.
 * - `<prefix>wm`: the invalidation watermark: every change event with a stream sequence up
 *   to this one has been applied to the cache. It is written in the same script as the
 *   invalidations it covers, so a Redis restored from an older snapshot carries a watermark
 *   that matches its data.
 */

/**
 * READ(KEYS[1]=entry, KEYS[2]=watermark; ARGV[1]=required sequence, ARGV[2]='g' for a
 * grant, 'l' for a list page). A grant entry is served only if the watermark has reached the
 * required sequence (every change the caller saw long enough ago has been applied); a list
 * page, whose version is the stream sequence it is consistent with, only if that sequence
 * has. Returns the value when it may be served, else false.
 */
export const READ = `
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, 1) ~= 'v' then return false end
local required = tonumber(ARGV[1])
if ARGV[2] == 'g' then
  if tonumber(redis.call('GET', KEYS[2]) or '-1') < required then return false end
elseif tonumber(string.match(value, '^v(%d+)')) < required then
  return false
end
return value
`;

/**
 * FILL(KEYS[1]=entry; ARGV[1]=version, ARGV[2]=value, ARGV[3]=ttl ms, ARGV[4]=read started
 * (ms since the epoch), ARGV[5]=oldest acceptable read start window ms).
 * Sets the entry unless the key holds an entry of the same or a newer version, or a tombstone
 * of a newer version (a tombstone at V says versions below V are stale: V itself may fill), or
 * the database read behind it is older than the window (a tombstone that blocked it may have
 * expired). Returns 1 when set, 0 when refused as stale, -1 when refused as too late.
 */
const FILL_CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(ARGV[4]) > tonumber(ARGV[5]) then return -1 end
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^[vt](%d+)'))
  local fill = tonumber(ARGV[1])
  -- An entry is replaced only by a newer version; a tombstone at V admits V itself.
  if v and (v > fill or (v == fill and string.sub(current, 1, 1) == 'v')) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
`;

export const FILL = `${FILL_CHECK}
return 1
`;

/**
 * FILL_LIST(KEYS[1]=page, KEYS[2]=page index; ARGV[1..5] as FILL, ARGV[6]=most pages).
 * FILL for a list page, within a budget: every stored page is recorded in the index (a
 * sorted set scored by fill time, living as long as a page), and when the index holds more
 * than ARGV[6] pages the oldest fills are deleted with their index entries. A page that
 * expired on its own stays counted until it is the oldest: the budget never undercounts.
 */
export const FILL_LIST = `${FILL_CHECK}
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
return 1
`;

/**
 * INVALIDATE(KEYS[1]=watermark; ARGV[1]=key prefix of grant entries, ARGV[2]=first seq of
 * the batch, ARGV[3]=last seq, ARGV[4]=tombstone ttl ms, ARGV[5..]=id, version pairs).
 * Applies a contiguous batch of change events: each grant's key becomes a tombstone at the
 * event's version unless it already holds that version or a newer one. Refuses (returns the
 * watermark, or -1 when there is none) if the batch does not start at or before
 * watermark + 1: events between would be lost. Returns -2 when applied.
 */
export const INVALIDATE = `
local wm = redis.call('GET', KEYS[1])
if not wm then return -1 end
wm = tonumber(wm)
if tonumber(ARGV[2]) > wm + 1 then return wm end
for i = 5, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  local version = tonumber(ARGV[i + 1])
  local current = redis.call('GET', key)
  local v = current and tonumber(string.match(current, '^[vt](%d+)'))
  if not v or v < version then
    redis.call('SET', key, 't' .. ARGV[i + 1], 'PX', ARGV[4])
  end
end
if tonumber(ARGV[3]) > wm then redis.call('SET', KEYS[1], ARGV[3]) end
return -2
`;

/**
 * RESET(KEYS[1]=watermark; ARGV[1]=watermark to set). Used after the invalidator emptied
 * the cache (no watermark, or one older than the stream keeps): nothing cached predates it.
 */
export const RESET = `
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;
