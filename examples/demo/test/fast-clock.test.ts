import { describe, expect, it } from "vitest";
import { FastClock } from "../fast-clock.ts";

describe("the demo's fast clock", () => {
  it("runs faster than real time and sleeps accordingly", async () => {
    const clock = new FastClock({ speed: 50, startMs: 1_000_000 });
    const realStart = performance.now();
    await clock.sleep(2_000); // 40 ms of real time
    const real = performance.now() - realStart;
    expect(real).toBeGreaterThanOrEqual(35);
    expect(real).toBeLessThan(1_000);
    expect(clock.now() - 1_000_000).toBeGreaterThanOrEqual(2_000);
  });

  it("skipping ahead wakes the sleeps that fall due, never goes backwards", async () => {
    const clock = new FastClock({ speed: 1 });
    const woken: string[] = [];
    const short = clock.sleep(60_000).then(() => woken.push("1 min"));
    const long = clock.sleep(3_600_000).then(() => woken.push("1 h"));
    const before = clock.now();
    clock.skipTo(before + 120_000);
    await short;
    expect(woken).toEqual(["1 min"]);
    clock.skipTo(before); // the past: nothing happens
    expect(clock.now()).toBeGreaterThanOrEqual(before + 120_000);
    expect(clock.skippedMs).toBeGreaterThanOrEqual(119_000);
    clock.skipTo(clock.now() + 3_600_000);
    await long;
    expect(woken).toEqual(["1 min", "1 h"]);
  });

  it("a zero sleep still yields to the event loop, and an aborted sleep rejects", async () => {
    const clock = new FastClock({ speed: 20 });
    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
    }, 0);
    for (let round = 0; round < 1_000 && !timerRan; round++) await clock.sleep(0);
    expect(timerRan).toBe(true);

    const controller = new AbortController();
    const sleeping = clock.sleep(60_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(sleeping).rejects.toThrow("stop");
  });
});
