import { ManualClock } from "@capflow/core";
import { afterEach, describe, expect, it } from "vitest";
import { type MockFunder, startMockFunder } from "../src/index.ts";
import { startCallbackReceiver } from "./support/callback-receiver.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * On a manual clock, real-funder schedules (a callback retried every minute, an hour of latency)
 * run in milliseconds and land on exact times.
 */
describe("mock funder on a manual clock", () => {
  async function funderOn(clock: ManualClock, callbackUrl: string): Promise<MockFunder> {
    const mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      clock,
      callbacks: { url: callbackUrl, attempts: 4, intervalMs: [60_000, 300_000] },
      endpoints: { "POST /loan/apply": { answer: { body: {} }, latencyMs: 3_600_000 } },
    });
    cleanups.push(() => mock.close());
    return mock;
  }

  it("retries callbacks on the funder's schedule without sleeping", async () => {
    const clock = new ManualClock();
    const engine = await startCallbackReceiver((n) => (n < 3 ? "fail" : "acknowledge"));
    cleanups.push(engine.close);
    const mock = await funderOn(clock, engine.url);
    const start = clock.now();
    const delivery = mock.sendCallback({ body: { loanNo: "L1" }, delayMs: 10_000 });
    const attempts = () => mock.callbacks()[0]?.attempts.length ?? 0;

    await clock.advance(9_999);
    expect(attempts()).toBe(0);
    await clock.advance(1);
    await expect.poll(attempts).toBe(1);
    await clock.advance(60_000);
    await expect.poll(attempts).toBe(2);
    await clock.advance(299_999);
    expect(attempts()).toBe(2);
    await clock.advance(1);
    expect((await delivery).state).toBe("acknowledged");
    expect((await delivery).attempts.map((attempt) => attempt.at - start)).toEqual([
      10_000, 70_000, 370_000,
    ]);
  });

  it("holds a call for an hour of latency, answered when the clock gets there", async () => {
    const clock = new ManualClock();
    const mock = await funderOn(clock, "http://127.0.0.1:9/unused");
    const call = callFunder(mock.url, "/loan/apply", { timeoutMs: 5_000 });
    // `n` is recorded just before the latency starts on the clock.
    await expect.poll(() => mock.requests()[0]?.n).toBe(1);
    await clock.advance(3_599_000);
    expect(mock.requests()[0]?.processed).toBe(false);
    await clock.advance(1_000);
    expect(await call).toMatchObject({ kind: "answered", status: 200 });
    expect(mock.requests()[0]).toMatchObject({ processed: true, at: clock.now() - 3_600_000 });
  });
});
