import { describe, expect, test } from "vitest";
import { isCapflowError, ManualClock } from "../../../src/index.ts";
import {
  type BreakerState,
  CircuitBreaker,
  resolveBreakerSettings,
} from "../../../src/runtime/flow-control/circuit-breaker.ts";

function breaker(settings: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = new ManualClock();
  const states: BreakerState[] = [];
  const instance = new CircuitBreaker(
    {
      sampleSize: 10,
      minimumCalls: 4,
      failureRate: 0.5,
      consecutiveTimeouts: 3,
      cooldownMs: 1_000,
      ...settings,
    },
    clock,
    (state) => states.push(state),
  );
  return { breaker: instance, clock, states };
}

function call(b: CircuitBreaker, outcome: "success" | "failure" | "timeout"): void {
  const admission = b.admit();
  if (!admission.admitted) throw new Error("not admitted");
  b.record(outcome, admission.probe);
}

describe("CircuitBreaker", () => {
  test("opens when more than the failure rate of the sample failed", () => {
    const { breaker: b, states } = breaker();
    call(b, "success");
    call(b, "failure");
    call(b, "success");
    call(b, "failure");
    expect(b.state).toBe("closed"); // 2 of 4 is not more than half
    call(b, "failure");
    expect(b.state).toBe("open");
    expect(states).toEqual(["open"]);
  });

  test("does not open before the minimum number of calls", () => {
    const { breaker: b } = breaker();
    call(b, "failure");
    call(b, "failure");
    call(b, "failure");
    expect(b.state).toBe("closed");
  });

  test("opens after N timeouts in a row; any other outcome breaks the run", () => {
    const { breaker: b } = breaker({ minimumCalls: 10, consecutiveTimeouts: 3 });
    call(b, "timeout");
    call(b, "timeout");
    call(b, "success");
    call(b, "timeout");
    call(b, "timeout");
    expect(b.state).toBe("closed");
    call(b, "timeout");
    expect(b.state).toBe("open");
  });

  test("refuses while open, then lets exactly one probe through after the cooldown", async () => {
    const { breaker: b, clock, states } = breaker({ consecutiveTimeouts: 1 });
    call(b, "timeout");
    const refused = b.admit();
    expect(refused).toEqual({ admitted: false, retryAfterMs: 1_000 });
    await clock.advance(400);
    expect(b.admit()).toEqual({ admitted: false, retryAfterMs: 600 });
    await clock.advance(600);
    const probe = b.admit();
    expect(probe).toEqual({ admitted: true, probe: true });
    expect(b.state).toBe("half-open");
    expect(b.admit().admitted).toBe(false); // one probe at a time
    b.record("success", true);
    expect(b.state).toBe("closed");
    expect(states).toEqual(["open", "half-open", "closed"]);
    expect(b.admit()).toEqual({ admitted: true, probe: false });
  });

  test("while the probe is out, others come back after twice its time so far, within the cooldown", async () => {
    const { breaker: b, clock } = breaker({ consecutiveTimeouts: 1, cooldownMs: 30_000 });
    call(b, "timeout");
    await clock.advance(30_000);
    expect(b.admit()).toMatchObject({ probe: true });
    expect(b.admit()).toEqual({ admitted: false, retryAfterMs: 1_000 });
    await clock.advance(3_000);
    expect(b.admit()).toEqual({ admitted: false, retryAfterMs: 6_000 });
    expect(b.refusal()).toBe(6_000);
    await clock.advance(17_000);
    expect(b.admit()).toEqual({ admitted: false, retryAfterMs: 30_000 });
  });

  test("a failed probe opens the circuit for another cooldown", async () => {
    const { breaker: b, clock, states } = breaker({ consecutiveTimeouts: 1 });
    call(b, "timeout");
    await clock.advance(1_000);
    call(b, "failure");
    expect(b.state).toBe("open");
    expect(b.admit()).toEqual({ admitted: false, retryAfterMs: 1_000 });
    expect(states).toEqual(["open", "half-open", "open"]);
  });

  test("a cancelled probe lets the next caller probe; a forgotten one expires", async () => {
    const { breaker: b, clock } = breaker({ consecutiveTimeouts: 1 });
    call(b, "timeout");
    await clock.advance(1_000);
    const probe = b.admit();
    expect(probe).toMatchObject({ probe: true });
    b.cancel(true);
    expect(b.admit()).toMatchObject({ admitted: true, probe: true }); // and this one is forgotten
    expect(b.admit().admitted).toBe(false);
    await clock.advance(60_001);
    expect(b.admit()).toMatchObject({ admitted: true, probe: true });
  });

  test("late outcomes of calls admitted before the circuit opened change nothing", async () => {
    const { breaker: b, clock } = breaker({ consecutiveTimeouts: 1 });
    const early = b.admit();
    call(b, "timeout");
    expect(b.state).toBe("open");
    if (early.admitted) b.record("success", early.probe);
    expect(b.state).toBe("open");
    await clock.advance(1_000);
    expect(b.admit()).toMatchObject({ probe: true });
  });

  test("an open breaker's probe time is exactly one cooldown after it opened, however the clock ticks", () => {
    // A clock that moves on every reading, as the system clock may between two statements.
    let ms = 1_000_000;
    const ticking = { now: () => ms++, sleep: async () => {} };
    const b = new CircuitBreaker({ consecutiveTimeouts: 1, cooldownMs: 600_000 }, ticking);
    call(b, "timeout");
    expect(b.state).toBe("open");
    expect(b.probeAt).toBe(b.since + 600_000);
  });

  test("invalid settings fail with CONFIG_INVALID naming each problem", () => {
    const error = (() => {
      try {
        resolveBreakerSettings({ failureRate: 1, sampleSize: 0, cooldownMs: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
    expect((error as Error).message).toMatch(/failureRate.*sampleSize.*cooldownMs/);
  });
});
