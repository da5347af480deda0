/**
 * Takes a permit under a concurrency limit and a rate limit at once, atomically, using the Redis
 * server's clock (`TIME`), so workers with skewed clocks agree and nothing can interleave between
 * the check and the write.
 *
 * - Concurrency: a sorted set of permit tokens scored by their expiry. Expired tokens are dropped
 *   first, so a permit of a crashed worker stops counting after its TTL.
 * - Rate: a sliding-window log, a sorted set of tokens scored by acquisition time. Exact (never
 *   more than `limit` in any window) at the cost of `limit` entries per key, small for partner
 *   limits.
 * A call refused by one limit consumes nothing from the other.
 *
 * KEYS[1] permits, KEYS[2] rate log (same hash slot: the caller wraps the key in `{}`)
 * ARGV[1] token, ARGV[2] concurrency (-1: none), ARGV[3] permit TTL ms, ARGV[4] rate limit (-1: none),
 * ARGV[5] rate window ms
 * Returns `{1}` when granted, `{0, "concurrency" | "rate", waitMs}` when refused, where `waitMs` is
 * when the soonest permit expires or the oldest call leaves the window.
 */
export const limiterAcquireScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local token = ARGV[1]
local concurrency = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local rateLimit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])

local function waitUntil(key, offset)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] == nil then return 1 end
  return math.max(1, tonumber(first[2]) + offset - now)
end

if concurrency >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= concurrency then
    return {0, 'concurrency', waitUntil(KEYS[1], 0)}
  end
end

if rateLimit >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= rateLimit then
    return {0, 'rate', waitUntil(KEYS[2], window)}
  end
  redis.call('ZADD', KEYS[2], now, token)
  redis.call('PEXPIRE', KEYS[2], window)
end

if concurrency >= 0 then
  redis.call('ZADD', KEYS[1], now + ttl, token)
  if redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return {1}
`;
