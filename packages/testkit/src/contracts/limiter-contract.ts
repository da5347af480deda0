import { setTimeout as delay } from "node:timers/promises";
import type { Limiter, Permit } from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/** The behaviour every `Limiter` must have (real time: keep windows short). */
export function describeLimiterContract(
  name: string,
  open: () => Promise<{ limiter: Limiter; close: () => Promise<void> }>,
): void {
  describe(`Limiter contract: ${name}`, () => {
    let limiter: Limiter;
    let close: () => Promise<void>;
    let key: string;

    beforeEach(async () => {
      ({ limiter, close } = await open());
      key = `contract:${Math.random().toString(36).slice(2)}`;
    });
    afterEach(async () => {
      await close();
    });

    test("concurrency: at most N permits at once; a release frees one", async () => {
      const permits: Permit[] = [];
      for (let i = 0; i < 3; i++) {
        const decision = await limiter.acquire(key, { concurrency: 3 });
        expect(decision.granted).toBe(true);
        if (decision.granted) permits.push(decision.permit);
      }
      const refused = await limiter.acquire(key, { concurrency: 3 });
      expect(refused).toMatchObject({ granted: false, reason: "concurrency" });
      if (!refused.granted) expect(refused.retryAfterMs).toBeGreaterThan(0);
      await permits[0]!.release();
      await permits[0]!.release();
      expect((await limiter.acquire(key, { concurrency: 3 })).granted).toBe(true);
      expect((await limiter.acquire(key, { concurrency: 3 })).granted).toBe(false);
    });

    test("concurrency limits change without restart", async () => {
      expect((await limiter.acquire(key, { concurrency: 1 })).granted).toBe(true);
      expect((await limiter.acquire(key, { concurrency: 1 })).granted).toBe(false);
      expect((await limiter.acquire(key, { concurrency: 2 })).granted).toBe(true);
    });

    test("an unreleased permit expires after its TTL", async () => {
      expect((await limiter.acquire(key, { concurrency: 1 }, { permitTtlMs: 200 })).granted).toBe(
        true,
      );
      expect((await limiter.acquire(key, { concurrency: 1 }, { permitTtlMs: 200 })).granted).toBe(
        false,
      );
      await delay(300);
      expect((await limiter.acquire(key, { concurrency: 1 }, { permitTtlMs: 200 })).granted).toBe(
        true,
      );
    });

    test("rate: at most N acquisitions per window", async () => {
      const rate = { limit: 5, windowMs: 400 };
      let granted = 0;
      for (let i = 0; i < 8; i++) {
        const decision = await limiter.acquire(key, { rate });
        if (decision.granted) {
          granted++;
          await decision.permit.release();
        } else {
          expect(decision.reason).toBe("rate");
          expect(decision.retryAfterMs).toBeLessThanOrEqual(400);
        }
      }
      expect(granted).toBe(5);
      await delay(450);
      expect((await limiter.acquire(key, { rate })).granted).toBe(true);
    });

    test("state: permits held and calls in the window, read without taking any", async () => {
      const limits = { concurrency: 3, rate: { limit: 10, windowMs: 400 } };
      if (limiter.state === undefined) return;
      expect(await limiter.state(key, limits)).toEqual({ held: 0, inWindow: 0 });
      const first = await limiter.acquire(key, limits);
      const second = await limiter.acquire(key, limits);
      expect(await limiter.state(key, limits)).toEqual({ held: 2, inWindow: 2 });
      // Reading took nothing: a third permit is still there, a fourth is not.
      expect((await limiter.acquire(key, limits)).granted).toBe(true);
      expect(await limiter.acquire(key, limits)).toMatchObject({ granted: false });
      if (first.granted) await first.permit.release();
      expect(await limiter.state(key, limits)).toEqual({ held: 2, inWindow: 3 });
      if (second.granted) await second.permit.release();
      await delay(450);
      expect(await limiter.state(key, limits)).toEqual({ held: 1, inWindow: 0 });
      expect(await limiter.state(key, { concurrency: 3 })).toEqual({ held: 1, inWindow: 0 });
    });
  });
}
