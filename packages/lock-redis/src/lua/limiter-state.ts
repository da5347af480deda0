/**
 * Reads how full one key's limits are, on the Redis server's clock like the acquire script, so the
 * count matches what the next acquisition would see. Reads only.
 *
 * KEYS[1] permits, KEYS[2] rate log (the acquire script's keys)
 * ARGV[1] rate window ms (0: no rate limit)
 * Returns `{held, inWindow}`: unexpired permits, calls within the window.
 */
export const limiterStateScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local held = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local inWindow = 0
if window > 0 then
  inWindow = redis.call('ZCOUNT', KEYS[2], '(' .. (now - window), '+inf')
end
return {held, inWindow}
`;
