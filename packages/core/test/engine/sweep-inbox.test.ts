import { describe, expect, test } from "vitest";
import { Worker } from "../../src/runtime/worker.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehaviorPollingWhileWaiting } from "../support/loan-definitions.ts";

/**
 * Notifications that no callback step consumed, because their instance settled first: the sweep
 * records them in the settled instance's history, never moves it, and raises attention when the
 * funder's late word contradicts how the instance settled.
 */
/** A loan settled by its poll before any callback arrived. */
async function settledByPoll(status: "SUCCESS" | "FAIL") {
  const h = engineHarness({ behaviors: [loanBehaviorPollingWhileWaiting(["1m"])] });
  h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
  h.transport.script("/loan/query", { body: { status } });
  const { id } = await h.startLoan("L-1");
  await h.runFor(2 * 60_000, 10_000);
  const settled = await h.engine.getInstance(id);
  expect(settled?.status).toBe(status === "SUCCESS" ? "succeeded" : "failed");
  return { h, id, settled: settled! };
}

describe("engine.sweepInbox", () => {
  test("a late notification that agrees is recorded in the history; the instance does not move", async () => {
    const { h, id, settled } = await settledByPoll("SUCCESS");
    await h.callback({ loanNo: "L-1", notifyId: "N-1", status: "SUCCESS" });
    await h.clock.advance(11 * 60_000);

    expect(await h.engine.sweepInbox()).toEqual({
      recorded: 1,
      conflicts: 0,
      unmatched: 0,
      pending: 0,
      failed: 0,
    });
    const after = await h.engine.getInstance(id);
    expect(after).toMatchObject({
      step: settled.step,
      status: "succeeded",
      version: settled.version + 1,
    });
    expect((await h.engine.history(id)).at(-1)).toMatchObject({
      event: "callback",
      outcome: "late:succeeded",
      step: "disbursed",
      fromStatus: "succeeded",
      toStatus: "succeeded",
      response: { callback: "loan.result", body: { loanNo: "L-1", notifyId: "N-1" } },
    });
    expect(h.events).not.toContainEqual(expect.objectContaining({ type: "instance.attention" }));
    expect(await h.store.pendingInbox({ channel: "lanbank", businessKey: "L-1" })).toEqual([]);
    // Swept once: the next sweep finds nothing.
    expect((await h.engine.sweepInbox()).recorded).toBe(0);
  });

  test("a late notification that contradicts the settled outcome raises attention", async () => {
    const { h, id } = await settledByPoll("SUCCESS");
    await h.callback({ loanNo: "L-1", notifyId: "N-2", status: "FAIL" });
    await h.clock.advance(11 * 60_000);

    expect(await h.engine.sweepInbox()).toMatchObject({ recorded: 0, conflicts: 1 });
    expect(await h.engine.getInstance(id)).toMatchObject({
      status: "succeeded",
      step: "disbursed",
    });
    expect((await h.engine.history(id)).at(-1)).toMatchObject({
      event: "callback",
      outcome: "late:failed",
      error: {
        code: "CALLBACK_LATE_CONFLICT",
        message: expect.stringContaining(
          "arrived after the instance settled succeeded and reports failed",
        ),
      },
    });
    expect(h.events).toContainEqual({
      type: "instance.attention",
      instanceId: id,
      step: "disbursed",
      reason: "late-notification",
      code: "CALLBACK_LATE_CONFLICT",
    });
  });

  test("young notifications, running instances and unknown business keys are left in the inbox", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const running = await h.startLoan("L-run");
    await h.engine.runDue();
    expect((await h.engine.getInstance(running.id))?.step).toBe("wait");
    // A notification for a loan never started here, and one just received.
    await h.callback({ loanNo: "L-nobody", notifyId: "N-3", status: "SUCCESS" });
    await h.clock.advance(11 * 60_000);
    await h.callback({ loanNo: "L-fresh", notifyId: "N-4", status: "SUCCESS" });

    expect(await h.engine.sweepInbox()).toEqual({
      recorded: 0,
      conflicts: 0,
      unmatched: 1,
      pending: 0,
      failed: 0,
    });
    await h.clock.advance(1);
    expect(await h.engine.sweepInbox({ olderThanMs: 0 })).toMatchObject({ unmatched: 2 });
    expect(
      await h.store.pendingInbox({ channel: "lanbank", businessKey: "L-nobody" }),
    ).toHaveLength(1);
    // An early notification for the running instance stays for its callback step.
    await h.callback({ loanNo: "L-run", notifyId: "N-5", status: "PROCESSING" });
    await h.store.commitTransition({
      instanceId: running.id,
      expectedVersion: (await h.engine.getInstance(running.id))!.version,
      now: h.clock.now(),
      changes: { nextRunAt: h.clock.now() + 3_600_000 },
      log: { step: "wait", attempt: 1, event: "transition", startedAt: 0, durationMs: 0 },
    });
    await h.clock.advance(1);
    expect(await h.engine.sweepInbox({ olderThanMs: 0 })).toMatchObject({ pending: 1 });
  });

  test("notifications that stay in the inbox do not hide a late one behind them", async () => {
    const { h, id } = await settledByPoll("SUCCESS");
    for (const loanNo of ["L-x1", "L-x2", "L-x3"]) {
      await h.callback({ loanNo, notifyId: `N-${loanNo}`, status: "SUCCESS" });
      await h.clock.advance(1);
    }
    await h.callback({ loanNo: "L-1", notifyId: "N-7", status: "SUCCESS" });
    await h.clock.advance(11 * 60_000);

    for (let sweep = 0; sweep < 2; sweep++) {
      expect(await h.engine.sweepInbox({ pageSize: 2 })).toEqual({
        recorded: 1 - sweep,
        conflicts: 0,
        unmatched: 3,
        pending: 0,
        failed: 0,
      });
    }
    expect((await h.engine.history(id)).at(-1)).toMatchObject({ outcome: "late:succeeded" });
  });

  test("the worker sweeps on its own schedule and reports the counts", async () => {
    const { h } = await settledByPoll("FAIL");
    await h.callback({ loanNo: "L-1", notifyId: "N-6", status: "SUCCESS" });
    const swept: unknown[] = [];
    const worker = new Worker(h.engine, {
      clock: h.clock,
      concurrency: 1,
      inboxSweepMs: 60_000,
      inboxSweep: { olderThanMs: 30_000 },
      onInboxSwept: (result) => swept.push(result),
    }).start();
    await h.clock.advance(61_000);
    await expect.poll(() => swept.length).toBeGreaterThan(0);
    await worker.stop();
    expect(swept[0]).toMatchObject({ conflicts: 1 });
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "instance.attention", reason: "late-notification" }),
    );
  });
});
