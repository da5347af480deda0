import { describe, expect, test } from "vitest";
import {
  CapflowError,
  FlowControl,
  type FlowEvent,
  InProcessBreakerBoard,
  InProcessLimiter,
  isCapflowError,
  type Limiter,
  ManualClock,
} from "../../../src/index.ts";

const apply = { channel: "acme", interface: "loan.apply", bulkhead: 2 } as const;

/** A limiter that records calls and can be switched off like an unreachable Redis. */
class RecordingLimiter implements Limiter {
  readonly inner = new InProcessLimiter();
  acquired = 0;
  released = 0;
  down = false;
  async acquire(...args: Parameters<Limiter["acquire"]>) {
    if (this.down) {
      throw new CapflowError("LIMITER_UNAVAILABLE", "limiter down", { retryable: true });
    }
    const decision = await this.inner.acquire(...args);
    if (!decision.granted) return decision;
    this.acquired++;
    return {
      granted: true as const,
      permit: {
        release: async () => {
          this.released++;
          await decision.permit.release();
        },
      },
    };
  }
  async close() {}
}

describe("FlowControl", () => {
  test("admits within limits and releases everything on complete, once", async () => {
    const limiter = new RecordingLimiter();
    const flow = new FlowControl({ limiter });
    const entry = await flow.enter({ ...apply, limits: { concurrency: 1 } });
    expect(entry.admitted).toBe(true);
    expect(flow.inFlight("acme")).toBe(1);
    const refused = await flow.enter({ ...apply, limits: { concurrency: 1 } });
    expect(refused).toMatchObject({ admitted: false, reason: "concurrency" });
    expect(flow.inFlight("acme")).toBe(1); // the refused call gave its bulkhead slot back
    if (!entry.admitted) return;
    await entry.ticket.complete("success");
    await entry.ticket.complete("failure");
    expect(flow.inFlight("acme")).toBe(0);
    expect(limiter.released).toBe(1);
    expect((await flow.enter({ ...apply, limits: { concurrency: 1 } })).admitted).toBe(true);
  });

  test("an account's own limit applies across interfaces; a refusal gives the interface permit back", async () => {
    const limiter = new RecordingLimiter();
    const clock = new ManualClock(0);
    const flow = new FlowControl({ limiter, clock });
    const shopA = { code: "shop-a", limits: { concurrency: 1 } };
    const query = { channel: "acme", interface: "loan.query", bulkhead: 4 } as const;
    const first = await flow.enter({ ...apply, bulkhead: 4, limits: {}, account: shopA });
    expect(first.admitted).toBe(true);
    // Another interface, the same account: refused by the account's limit, nothing kept.
    const refused = await flow.enter({ ...query, limits: { concurrency: 1 }, account: shopA });
    expect(refused).toMatchObject({ admitted: false, reason: "concurrency" });
    if (refused.admitted) return;
    expect(refused.error.message).toContain("acme account shop-a is at its concurrency limit");
    expect(limiter.acquired - limiter.released).toBe(1);
    expect(flow.inFlight("acme")).toBe(1);
    expect(flow.accountSaturated("acme", "shop-a")).toBe(true);
    expect(flow.accountSaturated("acme", "shop-b")).toBe(false);
    // The interface's own permit went back: another account's call to it goes out.
    const other = { code: "shop-b", limits: { concurrency: 1 } };
    expect(
      (await flow.enter({ ...query, limits: { concurrency: 1 }, account: other })).admitted,
    ).toBe(true);
    clock.advance(refused.retryAfterMs + 1);
    expect(flow.accountSaturated("acme", "shop-a")).toBe(false);
  });

  test("a full bulkhead refuses quickly with a short retry, without touching the limiter", async () => {
    const limiter = new RecordingLimiter();
    const flow = new FlowControl({ limiter, bulkheadRetryAfterMs: 50 });
    await flow.enter({ ...apply, limits: { concurrency: 10 } });
    await flow.enter({ ...apply, limits: { concurrency: 10 } });
    const refused = await flow.enter({ ...apply, limits: { concurrency: 10 } });
    expect(refused).toMatchObject({ admitted: false, reason: "bulkhead", retryAfterMs: 50 });
    if (!refused.admitted) {
      expect(isCapflowError(refused.error, "LIMITER_REJECTED")).toBe(true);
      expect(refused.error.retryable).toBe(true);
    }
    expect(limiter.acquired).toBe(2);
    // Another channel has its own bulkhead.
    expect((await flow.enter({ ...apply, channel: "other", limits: {} })).admitted).toBe(true);
  });

  test("rate refusals carry the limiter's retryAfter", async () => {
    const flow = new FlowControl({ limiter: new InProcessLimiter() });
    const rate = { limit: 1, windowMs: 1_000 };
    const first = await flow.enter({ ...apply, limits: { rate } });
    if (first.admitted) await first.ticket.complete("success");
    const second = await flow.enter({ ...apply, limits: { rate } });
    expect(second).toMatchObject({ admitted: false, reason: "rate" });
    if (!second.admitted) expect(second.retryAfterMs).toBeGreaterThan(900);
  });

  test("an unreachable limiter refuses (never calls without limits) and frees the bulkhead", async () => {
    const limiter = new RecordingLimiter();
    limiter.down = true;
    const flow = new FlowControl({ limiter, unavailableRetryAfterMs: 500 });
    const refused = await flow.enter({ ...apply, limits: { concurrency: 5 } });
    expect(refused).toMatchObject({
      admitted: false,
      reason: "limiter-unavailable",
      retryAfterMs: 500,
    });
    if (!refused.admitted) {
      expect(isCapflowError(refused.error, "LIMITER_UNAVAILABLE")).toBe(true);
      expect(refused.error.context).toMatchObject({ channel: "acme", interface: "loan.apply" });
    }
    expect(flow.inFlight("acme")).toBe(0);
  });

  test("other limiter errors propagate after giving the bulkhead slot back", async () => {
    const limiter: Limiter = {
      acquire: async () => {
        throw new TypeError("bug");
      },
      close: async () => {},
    };
    const flow = new FlowControl({ limiter });
    await expect(flow.enter({ ...apply, limits: { concurrency: 1 } })).rejects.toThrow("bug");
    expect(flow.inFlight("acme")).toBe(0);
  });

  test("an open circuit refuses before the bulkhead and the limiter; events report each state", async () => {
    const clock = new ManualClock();
    const events: FlowEvent[] = [];
    const limiter = new RecordingLimiter();
    const flow = new FlowControl({
      limiter,
      clock,
      onEvent: (event) => events.push(event),
      breaker: { consecutiveTimeouts: 2, cooldownMs: 5_000 },
    });
    for (let i = 0; i < 2; i++) {
      const entry = await flow.enter({ ...apply, limits: { concurrency: 5 } });
      if (entry.admitted) await entry.ticket.complete("timeout");
    }
    expect(flow.breakerState("acme", "loan.apply")).toBe("open");
    const refused = await flow.enter({ ...apply, limits: { concurrency: 5 } });
    expect(refused).toMatchObject({ admitted: false, reason: "circuit-open", retryAfterMs: 5_000 });
    if (!refused.admitted) expect(isCapflowError(refused.error, "CIRCUIT_OPEN")).toBe(true);
    expect(limiter.acquired).toBe(2);
    // Other interfaces of the channel are unaffected.
    expect((await flow.enter({ ...apply, interface: "loan.query", limits: {} })).admitted).toBe(
      true,
    );

    await clock.advance(5_000);
    const probe = await flow.enter({ ...apply, limits: { concurrency: 5 } });
    expect(probe.admitted).toBe(true);
    expect(await flow.enter({ ...apply, limits: { concurrency: 5 } })).toMatchObject({
      reason: "circuit-open",
    });
    if (probe.admitted) await probe.ticket.complete("success");
    expect(events).toEqual([
      { type: "breaker.open", channel: "acme", interface: "loan.apply" },
      { type: "breaker.half-open", channel: "acme", interface: "loan.apply" },
      { type: "breaker.closed", channel: "acme", interface: "loan.apply" },
    ]);
  });

  test("refusesNow tells what this worker alone would refuse, and takes or changes nothing", async () => {
    const clock = new ManualClock();
    const limiter = new RecordingLimiter();
    const flow = new FlowControl({
      limiter,
      clock,
      breaker: { consecutiveTimeouts: 1, cooldownMs: 5_000 },
    });
    const request = { ...apply, limits: { concurrency: 5 } };
    expect(flow.refusesNow(request)).toBeUndefined();
    const failed = await flow.enter(request);
    if (failed.admitted) await failed.ticket.complete("timeout");

    await clock.advance(1_000);
    expect(flow.refusesNow(request)).toMatchObject({
      admitted: false,
      reason: "circuit-open",
      retryAfterMs: 4_000,
    });
    // Past the cooldown the probe is due: not refused, and still open until a call takes it.
    await clock.advance(4_000);
    expect(flow.refusesNow(request)).toBeUndefined();
    expect(flow.breakerState("acme", "loan.apply")).toBe("open");
    const probe = await flow.enter(request);
    expect(probe.admitted).toBe(true);
    expect(flow.refusesNow(request)).toMatchObject({ reason: "circuit-open", retryAfterMs: 1_000 });
    if (probe.admitted) await probe.ticket.complete("success");

    // A full bulkhead (2 here) refuses another call; asking takes no slot and no permit.
    const calls = [await flow.enter(request), await flow.enter(request)];
    expect(flow.refusesNow(request)).toMatchObject({ reason: "bulkhead", retryAfterMs: 100 });
    expect(flow.inFlight("acme")).toBe(2);
    const acquired = limiter.acquired;
    for (const call of calls) if (call.admitted) await call.ticket.complete("success");
    expect(flow.refusesNow(request)).toBeUndefined();
    expect(limiter.acquired).toBe(acquired);
  });

  test("a probe refused further on does not hold the circuit half-open", async () => {
    const clock = new ManualClock();
    const flow = new FlowControl({
      limiter: new InProcessLimiter({ clock }),
      clock,
      breaker: { consecutiveTimeouts: 1, cooldownMs: 1_000 },
    });
    const first = await flow.enter({ ...apply, limits: {} });
    if (first.admitted) await first.ticket.complete("timeout");
    await clock.advance(1_000);
    const holders = [
      await flow.enter({ ...apply, channel: "acme", interface: "loan.query", limits: {} }),
      await flow.enter({ ...apply, channel: "acme", interface: "loan.query", limits: {} }),
    ];
    // The bulkhead of acme is now full: the probe is refused by it and must be given back.
    expect(await flow.enter({ ...apply, limits: {} })).toMatchObject({ reason: "bulkhead" });
    for (const holder of holders) if (holder.admitted) await holder.ticket.complete("success");
    const probe = await flow.enter({ ...apply, limits: {} });
    expect(probe.admitted).toBe(true);
  });

  test("not-sent releases without telling the breaker anything", async () => {
    const flow = new FlowControl({
      limiter: new InProcessLimiter(),
      breaker: { consecutiveTimeouts: 1 },
    });
    const entry = await flow.enter({ ...apply, limits: { concurrency: 1 } });
    if (entry.admitted) await entry.ticket.complete("not-sent");
    expect(flow.breakerState("acme", "loan.apply")).toBe("closed");
    expect((await flow.enter({ ...apply, limits: { concurrency: 1 } })).admitted).toBe(true);
  });

  test("changed breaker settings take effect without restart", async () => {
    const flow = new FlowControl({ limiter: new InProcessLimiter() });
    const strict = { consecutiveTimeouts: 1 };
    const entry = await flow.enter({ ...apply, limits: {}, breaker: { consecutiveTimeouts: 3 } });
    if (entry.admitted) await entry.ticket.complete("timeout");
    expect(flow.breakerState("acme", "loan.apply")).toBe("closed");
    const again = await flow.enter({ ...apply, limits: {}, breaker: strict });
    if (again.admitted) await again.ticket.complete("timeout");
    expect(flow.breakerState("acme", "loan.apply")).toBe("open");
  });

  test("a permit that cannot be released is reported, and complete still resolves", async () => {
    const events: FlowEvent[] = [];
    const limiter: Limiter = {
      acquire: async () => ({
        granted: true,
        permit: {
          release: async () => {
            throw new CapflowError("LIMITER_UNAVAILABLE", "down", { retryable: true });
          },
        },
      }),
      close: async () => {},
    };
    const flow = new FlowControl({ limiter, onEvent: (event) => events.push(event) });
    const entry = await flow.enter({ ...apply, limits: { concurrency: 1 } });
    if (entry.admitted) await entry.ticket.complete("success");
    expect(events.map((e) => e.type)).toEqual(["permit.release-failed"]);
    expect(flow.inFlight("acme")).toBe(0);
  });

  test("reports its breakers to the board as they open, probe and close", async () => {
    const clock = new ManualClock(1_000_000);
    const board = new InProcessBreakerBoard();
    const flow = new FlowControl({
      limiter: new InProcessLimiter({ clock }),
      clock,
      breakerBoard: board,
      node: "node-1",
      breaker: { minimumCalls: 2, sampleSize: 2, failureRate: 0.5, cooldownMs: 10_000 },
    });
    const call = async (outcome: "success" | "failure") => {
      const entry = await flow.enter({ ...apply, limits: {} });
      if (entry.admitted) await entry.ticket.complete(outcome);
      return entry.admitted;
    };
    await call("failure");
    expect(await board.list(clock.now())).toEqual([]);
    await call("failure");
    const where = { channel: "acme", interface: "loan.apply", node: "node-1" };
    expect(await board.list(clock.now())).toEqual([
      {
        ...where,
        state: "open",
        since: 1_000_000,
        probeAt: 1_010_000,
        expiresAt: 1_010_000 + 60_000,
      },
    ]);
    await clock.advance(10_000);
    const probe = await flow.enter({ ...apply, limits: {} });
    expect(await board.list(clock.now())).toEqual([
      { ...where, state: "half-open", since: 1_010_000, expiresAt: 1_010_000 + 60_000 },
    ]);
    if (probe.admitted) await probe.ticket.complete("success");
    expect(await board.list(clock.now())).toEqual([]);
  });
});
