import {
  describeBreakerBoardContract,
  describeLimiterContract,
  describeLockProviderContract,
} from "@capflow/testkit/contracts";
import { openRedis } from "../src/index.ts";
import { describeWithRedis, uniquePrefix } from "./support/redis-url.ts";

describeWithRedis("Redis adapters pass the port contracts", (url) => {
  describeLockProviderContract("RedlockLockProvider", async () => {
    const redis = await openRedis({ url, keyPrefix: uniquePrefix() });
    return { locks: redis.locks, close: redis.close };
  });

  describeLimiterContract("RedisLimiter", async () => {
    const redis = await openRedis({ url, keyPrefix: uniquePrefix() });
    return { limiter: redis.limiter, close: redis.close };
  });

  describeBreakerBoardContract("RedisBreakerBoard", async () => {
    const redis = await openRedis({ url, keyPrefix: uniquePrefix() });
    return { board: redis.breakers, close: redis.close };
  });
});
