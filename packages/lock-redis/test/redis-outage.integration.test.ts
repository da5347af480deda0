import { setTimeout as delay } from "node:timers/promises";
import { isCapflowError } from "@capflow/core";
import { afterEach, expect, test } from "vitest";
import { type CapflowRedis, openRedis } from "../src/index.ts";
import { DisposableRedisServer } from "./support/redis-server.ts";
import { describeWithRedis, uniquePrefix } from "./support/redis-url.ts";

/** Fails with a typed error, quickly: measured and returned. */
async function failure(operation: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await operation().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - started };
}

/** Waits until `operation` succeeds (vitest's `expect.poll`); rethrows its last error if it never does. */
async function eventually(operation: () => Promise<unknown>, withinMs: number): Promise<void> {
  let lastError: unknown;
  const succeeds = () =>
    operation().then(
      () => true,
      (error: unknown) => {
        lastError = error;
        return false;
      },
    );
  try {
    await expect.poll(succeeds, { timeout: withinMs, interval: 100 }).toBe(true);
  } catch (pollError) {
    throw lastError ?? pollError;
  }
}

describeWithRedis("when Redis is down", () => {
  let server: DisposableRedisServer | undefined;
  let redis: CapflowRedis | undefined;

  afterEach(async () => {
    await redis?.close();
    await server?.kill();
  });

  test("locks and limits fail fast with retryable errors, a held lock is reported lost, and all recovers", async () => {
    server = await DisposableRedisServer.start();
    redis = await openRedis({ url: server.url, keyPrefix: uniquePrefix() });
    const held = await redis.locks.acquire("instance:1", { ttlMs: 600 });
    const permit = await redis.limiter.acquire("acme:loan.apply", { concurrency: 5 });
    expect(permit.granted).toBe(true);

    await server.kill();

    const limit = await failure(() =>
      redis!.limiter.acquire("acme:loan.apply", { concurrency: 5 }),
    );
    expect(isCapflowError(limit.error, "LIMITER_UNAVAILABLE")).toBe(true);
    expect((limit.error as { retryable: boolean }).retryable).toBe(true);
    // Fail fast: far below any wait (a busy machine gets generous slack, a hang would not).
    expect(limit.ms).toBeLessThan(2_000);

    const lock = await failure(() =>
      redis!.locks.acquire("instance:2", { ttlMs: 1_000, waitMs: 5_000 }),
    );
    expect(isCapflowError(lock.error, "LOCK_UNAVAILABLE")).toBe(true);
    expect((lock.error as { retryable: boolean }).retryable).toBe(true);
    expect(lock.ms).toBeLessThan(2_000); // not retried for its 5 s waitMs as if the lock were taken

    if (permit.granted) {
      const release = await failure(() => permit.permit.release());
      expect(isCapflowError(release.error, "LIMITER_UNAVAILABLE")).toBe(true);
    }

    // The held lock cannot be extended: its holder is told before the lock could be taken over.
    await delay(700);
    expect(held.signal.aborted).toBe(true);
    expect(isCapflowError(held.signal.reason, "LOCK_LOST")).toBe(true);
    await held.release();

    await server.start();
    await eventually(async () => {
      const again = await redis!.locks.acquire("instance:1", { ttlMs: 1_000 });
      await again.release();
    }, 5_000);
    const after = await redis.limiter.acquire("acme:loan.apply", { concurrency: 5 });
    expect(after.granted).toBe(true);
  });

  test("a lock whose Redis stops answering is reported lost at its expiry, not after the timeout", async () => {
    server = await DisposableRedisServer.start();
    // Commands wait 10 s for an answer: far longer than the lock lives.
    redis = await openRedis({
      url: server.url,
      keyPrefix: uniquePrefix(),
      commandTimeoutMs: 10_000,
    });
    const held = await redis.locks.acquire("instance:3", { ttlMs: 600 });
    const acquiredAt = Date.now();
    server.freeze();
    try {
      // The extension sent at ~200 ms hangs; the key expires at 600 ms and another worker could
      // take it then, so the holder is told then, not when the extension finally times out.
      await eventually(async () => {
        if (!held.signal.aborted) throw new Error("not yet");
      }, 9_000);
      expect(Date.now() - acquiredAt).toBeLessThan(5_000);
      expect(isCapflowError(held.signal.reason, "LOCK_LOST")).toBe(true);
    } finally {
      server.thaw();
    }
    await held.release();
  });

  test("openRedis fails with a retryable LOCK_UNAVAILABLE naming the address, without the password", async () => {
    server = await DisposableRedisServer.start();
    const url = `redis://:secret@127.0.0.1:${server.port}`;
    await server.kill();
    const { error, ms } = await failure(() => openRedis({ url, connectTimeoutMs: 500 }));
    expect(isCapflowError(error, "LOCK_UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${server.port}`);
    expect((error as Error).message).not.toContain("secret");
    expect(ms).toBeLessThan(3_000);
  });
});
