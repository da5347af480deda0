import { describe, expect, test } from "vitest";
import { engineHarness } from "../support/harness.ts";
import { loanBehaviorAcceptingTo } from "../support/loan-definitions.ts";

/**
 * A stored notification makes due only an instance that waits for that callback. Anything else
 * for the same business key (a poll on its schedule, a parked call, a wait for another callback)
 * keeps its time: running it early would spend a poll, or resend what an operator must decide.
 */
describe("what a stored callback wakes", () => {
  test("a poll keeps its schedule when a notification for its business key arrives", async () => {
    const h = engineHarness({
      behaviors: [loanBehaviorAcceptingTo("query")],
    });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-1");
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "query", status: "waiting" });

    // The funder notifies; this behavior has no callback step to apply it.
    await h.callback({ loanNo: "L-1", notifyId: "N-1", status: "PROCESSING" });
    while ((await h.engine.runDue()) > 0) {}
    expect(h.transport.count("/loan/query")).toBe(0);

    // Each poll runs at its time, once, and the schedule is not used up by the stored entry.
    await h.runFor(1_000);
    expect(h.transport.count("/loan/query")).toBe(1);
    await h.runFor(15_000);
    expect(h.transport.count("/loan/query")).toBe(2);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "query", status: "waiting" });
  });

  test("a parked call stays parked: a notification does not resend it", async () => {
    const h = engineHarness({
      behaviors: [loanBehaviorAcceptingTo("wait")],
    });
    // An answer no route takes: the instance parks for a person.
    h.transport.script("/loan/apply", { body: { status: "FAIL" } });
    const { id } = await h.startLoan("L-2");
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "apply", nextRunAt: null });

    await h.callback({ loanNo: "L-2", notifyId: "N-2", status: "SUCCESS" });
    await h.runFor(60_000, 10_000);
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "apply", nextRunAt: null });
  });

  test("an instance waiting for the callback is woken at once", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-3");
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "wait",
      status: "waiting",
      waitingFor: "loan.result",
    });

    await h.callback({ loanNo: "L-3", notifyId: "N-3", status: "SUCCESS" });
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
      waitingFor: null,
    });
  });
});
