import { setTimeout as delay } from "node:timers/promises";
import { isCapflowError, type LockProvider } from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/** The behaviour every `LockProvider` must have (real time: keep TTLs short). */
export function describeLockProviderContract(
  name: string,
  open: () => Promise<{ locks: LockProvider; close: () => Promise<void> }>,
): void {
  describe(`LockProvider contract: ${name}`, () => {
    let locks: LockProvider;
    let close: () => Promise<void>;
    let prefix: string;

    beforeEach(async () => {
      ({ locks, close } = await open());
      prefix = `contract:${Math.random().toString(36).slice(2)}:`;
    });
    afterEach(async () => {
      await close();
    });

    test("a held lock excludes others until released", async () => {
      const lock = await locks.acquire(`${prefix}a`, { ttlMs: 2_000 });
      expect(lock.signal.aborted).toBe(false);
      const error = await locks.acquire(`${prefix}a`, { ttlMs: 2_000 }).catch((e: unknown) => e);
      expect(isCapflowError(error, "LOCK_NOT_ACQUIRED")).toBe(true);
      const other = await locks.acquire(`${prefix}b`, { ttlMs: 2_000 });
      await other.release();
      await lock.release();
      const again = await locks.acquire(`${prefix}a`, { ttlMs: 2_000 });
      await again.release();
    });

    test("acquire waits up to waitMs for a release", async () => {
      const lock = await locks.acquire(`${prefix}w`, { ttlMs: 2_000 });
      setTimeout(() => void lock.release(), 100);
      const second = await locks.acquire(`${prefix}w`, { ttlMs: 2_000, waitMs: 2_000 });
      await second.release();
    });

    test("a lock stays held past its TTL while its holder works", async () => {
      const lock = await locks.acquire(`${prefix}long`, { ttlMs: 300 });
      await delay(900);
      expect(lock.signal.aborted).toBe(false);
      const error = await locks.acquire(`${prefix}long`, { ttlMs: 300 }).catch((e: unknown) => e);
      expect(isCapflowError(error, "LOCK_NOT_ACQUIRED")).toBe(true);
      await lock.release();
    });

    test("release is idempotent and only releases the holder's own lock", async () => {
      const first = await locks.acquire(`${prefix}r`, { ttlMs: 2_000 });
      await first.release();
      const second = await locks.acquire(`${prefix}r`, { ttlMs: 2_000 });
      await first.release();
      const error = await locks.acquire(`${prefix}r`, { ttlMs: 2_000 }).catch((e: unknown) => e);
      expect(isCapflowError(error, "LOCK_NOT_ACQUIRED")).toBe(true);
      await second.release();
    });
  });
}
