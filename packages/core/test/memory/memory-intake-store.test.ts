import { describe, expect, test } from "vitest";
import { MemoryIntakeStore } from "../../src/memory/memory-intake-store.ts";

describe("MemoryIntakeStore", () => {
  test("a nonce is used once until it expires", async () => {
    const store = new MemoryIntakeStore();
    expect(await store.useNonce("c", "n", 1_000, 0)).toBe(true);
    expect(await store.useNonce("c", "n", 1_000, 500)).toBe(false);
    expect(await store.useNonce("other", "n", 1_000, 500)).toBe(true);
    expect(await store.useNonce("c", "n", 2_000, 1_000)).toBe(true);
  });

  test("keys: claimed, pending, answered, released, taken over when abandoned or expired", async () => {
    const store = new MemoryIntakeStore();
    const claim = (key: string, now: number, bodyDigest = "d") =>
      store.claimKey({ client: "c", key, bodyDigest, expiresAt: now + 3_600_000, now });
    expect(await claim("k", 0)).toEqual({ state: "claimed" });
    expect(await claim("k", 10)).toEqual({ state: "pending", bodyDigest: "d" });
    await store.saveAnswer("c", "k", { status: 200, body: { ok: true } });
    expect(await claim("k", 20, "other")).toEqual({
      state: "answered",
      bodyDigest: "d",
      answer: { status: 200, body: { ok: true } },
    });
    expect(await claim("k", 3_600_000)).toEqual({ state: "claimed" });
    expect(await claim("r", 0)).toEqual({ state: "claimed" });
    await store.releaseKey("c", "r");
    expect(await claim("r", 1)).toEqual({ state: "claimed" });
    expect(await claim("r", 61_001)).toEqual({ state: "claimed" });
    expect(await store.purgeExpired(10 * 3_600_000)).toBe(2);
  });
});
