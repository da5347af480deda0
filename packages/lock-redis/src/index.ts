/**
 * @capflow/lock-redis — distributed locks (redlock) and cluster-wide flow control on Redis, for
 * running several capflow workers against one Redis.
 *
 * ```ts
 * import { FlowControl } from "@capflow/core";
 * import { openRedis } from "@capflow/lock-redis";
 *
 * const redis = await openRedis({ url: process.env.REDIS_URL!, keyPrefix: "capflow:" });
 * const lock = await redis.locks.acquire("instance:42", { ttlMs: 10_000, waitMs: 500 });
 * const flow = new FlowControl({ limiter: redis.limiter });
 * // … lock.signal is aborted if the lock is lost …
 * await lock.release();
 * await redis.close();
 * ```
 *
 * When Redis is unreachable every operation fails at once with a retryable `LOCK_UNAVAILABLE` or
 * `LIMITER_UNAVAILABLE`; nothing waits for Redis to come back.
 */
export { type CapflowRedis, type OpenRedisOptions, openRedis } from "./open-redis.ts";
export { RedisBreakerBoard, type RedisBreakerBoardOptions } from "./redis-breaker-board.ts";
export { RedisLimiter, type RedisLimiterOptions } from "./redis-limiter.ts";
export { RedlockLockProvider, type RedlockLockProviderOptions } from "./redlock-lock-provider.ts";
