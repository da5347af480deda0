import { describe, expect, it } from "vitest";
import { DemoClock } from "../demo-clock.ts";

describe("the demo's clock", () => {
  it("stands still until it is moved, then wakes the sleeps that fall due, earliest first", async () => {
    const clock = new DemoClock({ startMs: 1_000_000 });
    const woken: string[] = [];
    const long = clock.sleep(3_600_000).then(() => woken.push("1 h"));
    const short = clock.sleep(60_000).then(() => woken.push("1 min"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(clock.now()).toBe(1_000_000);
    expect(woken).toEqual([]);
    expect(clock.nextWakeAt()).toBe(1_060_000);

    clock.skipTo(1_120_000);
    await short;
    expect(woken).toEqual(["1 min"]);
    clock.skipTo(1_000_000); // the past: nothing happens
    expect(clock.now()).toBe(1_120_000);
    expect(clock.nextWakeAt()).toBe(4_600_000);
    clock.skipTo(5_000_000);
    await long;
    expect(woken).toEqual(["1 min", "1 h"]);
    expect(clock.nextWakeAt()).toBeUndefined();
  });

  it("tells the sleeps of a view apart from the others'", () => {
    const clock = new DemoClock({ startMs: 0 });
    const worker = clock.view();
    void worker.sleep(1_000);
    void clock.sleep(5_000);
    expect(clock.nextWakeAt()).toBe(1_000);
    expect(clock.nextWakeAt([clock])).toBe(5_000);
    expect(clock.nextWakeAt([worker])).toBe(1_000);
    expect(worker.now()).toBe(clock.now());
  });

  it("a zero sleep still yields to the event loop, and an aborted sleep rejects", async () => {
    const clock = new DemoClock();
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
    expect(clock.nextWakeAt()).toBeUndefined();
  });
});
