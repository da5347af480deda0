/**
 * Writes one node's breaker report into the board's hash and keeps the hash alive at least as
 * long as this report, never shortening it for reports that live longer (`PEXPIRE … GT` would do
 * this on Redis 7 alone). Readers skip reports past their own `expiresAt`; the whole hash expires
 * once every report in it has.
 *
 * KEYS[1] board hash; ARGV[1] field, ARGV[2] report JSON, ARGV[3] lifetime ms
 */
export const breakerReportScript = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`;
