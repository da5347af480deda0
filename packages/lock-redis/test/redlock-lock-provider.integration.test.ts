import { setTimeout as delay } from "node:timers/promises";
import { isCapflowError } from "@capflow/core";
import { afterEach, beforeEach, expect, test } from "vitest";
import { type CapflowRedis, openRedis } from "../src/index.ts";
import { describeWithRedis, uniquePrefix } from "./support/redis-url.ts";

describeWithRedis("RedlockLockProvider", (url) => {
  let redis: CapflowRedis;
  let prefix: string;

  beforeEach(async () => {
    prefix = uniquePrefix();
    redis = await openRedis({ url, keyPrefix: prefix });
  });
  afterEach(async () => {
    await redis.close();
  });

  test("a lock taken over behind its holder's back is reported lost at the next extension", async () => {
    const lock = await redis.locks.acquire("instance:7", { ttlMs: 300 });
    // As if the key had expired during a long pause and another worker had taken it.
    await redis.client.set(`${prefix}lock:instance:7`, "someone-else", "PX", 5_000);
    await delay(250);
    expect(lock.signal.aborted).toBe(true);
    expect(isCapflowError(lock.signal.reason, "LOCK_LOST")).toBe(true);
    await lock.release();
    // Releasing a lost lock never frees the new holder's key.
    expect(await redis.client.get(`${prefix}lock:instance:7`)).toBe("someone-else");
  });

  test("keys carry the prefix; closing the provider releases what it holds", async () => {
    const lock = await redis.locks.acquire("instance:8", { ttlMs: 5_000 });
    expect(await redis.client.exists(`${prefix}lock:instance:8`)).toBe(1);
    await redis.locks.close();
    expect(lock.signal.aborted).toBe(true);
    expect(await redis.client.exists(`${prefix}lock:instance:8`)).toBe(0);
  });

  test("waiting can be aborted", async () => {
    const lock = await redis.locks.acquire("instance:9", { ttlMs: 5_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("shutting down")), 100);
    const started = Date.now();
    await expect(
      redis.locks.acquire("instance:9", { ttlMs: 5_000, waitMs: 5_000, signal: controller.signal }),
    ).rejects.toThrow("shutting down");
    expect(Date.now() - started).toBeLessThan(3_000); // not the 5 s wait
    await lock.release();
  });
});
