import { describe, expect, test } from "vitest";
import { Worker } from "../../src/runtime/worker.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehaviorAcceptingTo } from "../support/loan-definitions.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

describe("Worker: stopping and failing", () => {
  test("stop ends a chain after its current step and gives the lease back", async () => {
    const h = engineHarness({
      behaviors: [
        loanBehaviorAcceptingTo("check", {
          check: { kind: "decide", routes: [], otherwise: "wait" },
        }),
      ],
    });
    let answer!: (value: ScriptedAnswer) => void;
    h.transport.script("/loan/apply", {
      hang: new Promise<ScriptedAnswer>((resolve) => (answer = resolve)),
    });
    const { id } = await h.startLoan();
    const worker = new Worker(h.engine, {
      clock: h.clock,
      concurrency: 1,
      inboxSweepMs: 0,
    }).start();
    await expect.poll(() => h.transport.count("/loan/apply")).toBe(1);

    const stopped = worker.stop();
    answer({ body: { status: "ACCEPTED" } });
    await stopped;

    // The call in flight committed; the decide step after it was left for the next worker.
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "check",
      status: "active",
      leaseOwner: null,
    });
  });

  test("an onError handler that throws does not end the loop", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const claimDue = h.store.claimDue.bind(h.store);
    let failures = 1;
    h.store.claimDue = (request) => {
      if (failures-- > 0) return Promise.reject(new Error("database away"));
      return claimDue(request);
    };
    const { id } = await h.startLoan();
    const worker = new Worker(h.engine, {
      clock: h.clock,
      concurrency: 1,
      idleMs: 1_000,
      inboxSweepMs: 0,
      onError: () => {
        throw new Error("the host's handler is broken too");
      },
    }).start();
    await expect.poll(() => failures).toBe(0);
    await h.clock.advance(1_000);
    await expect.poll(async () => (await h.engine.getInstance(id))?.step).toBe("wait");
    await worker.stop();
  });
});
