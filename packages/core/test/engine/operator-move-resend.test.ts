import { describe, expect, test } from "vitest";
import { previewOperatorAction } from "../../src/engine/operator-action-preview.ts";
import { isCapflowError } from "../../src/errors.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

const alice = { who: "ops:alice", why: "the instance looks stuck at apply" };

/** An instance whose apply call left and has not answered: its intent is recorded, in flight. */
async function callInFlight(h: ReturnType<typeof engineHarness>, key: string) {
  let release!: (answer: ScriptedAnswer) => void;
  h.transport.script("/loan/apply", {
    hang: new Promise<ScriptedAnswer>((resolve) => (release = resolve)),
  });
  const { id } = await h.startLoan(key);
  const running = h.engine.runDue();
  await expect.poll(async () => (await h.engine.getInstance(id))?.inFlight).toBeTruthy();
  const record = (await h.engine.getInstance(id))!;
  // The worker's late answer loses to whatever the operator committed.
  const settle = async () => {
    release({ body: { status: "SUCCESS" } });
    await running;
  };
  return { id, record, settle };
}

describe("an operator's move never resends a non-idempotent call that may be in flight", () => {
  test("a move back to the call's step is refused, naming the query step; nothing changes", async () => {
    const h = engineHarness();
    const { id, record, settle } = await callInFlight(h, "L-inflight");
    const historyBefore = await h.engine.history(id);
    const error = await h.engine.moveTo(id, "apply", alice).catch((caught: unknown) => caught);
    expect(isCapflowError(error, "INSTANCE_CALL_IN_FLIGHT")).toBe(true);
    expect((error as Error).message).toContain("move to query instead");
    expect((error as Error).message).toContain(record.inFlight?.serial);
    expect(await h.engine.getInstance(id)).toEqual(record);
    expect(await h.engine.history(id)).toEqual(historyBefore);

    // The query step finds out what happened: allowed.
    const moved = await h.engine.moveTo(id, "query", { ...alice, why: "ask the funder" });
    expect(moved).toMatchObject({ step: "query", inFlight: null });
    await settle();
  });

  test("the operator's confirmation that the partner did not process it allows the resend", async () => {
    const h = engineHarness();
    const { id, settle } = await callInFlight(h, "L-confirmed");
    const moved = await h.engine.moveTo(
      id,
      "apply",
      { ...alice, why: "the funder confirmed by phone it never got serial S" },
      { callNotProcessed: true },
    );
    expect(moved).toMatchObject({ step: "apply", status: "active", inFlight: null });
    // The history keeps that the operator vouched for it, not only who moved it and why.
    expect((await h.engine.history(id)).at(-1)).toMatchObject({
      event: "operator",
      outcome: "moveTo:apply",
      actor: { who: alice.who, confirmed: "callNotProcessed" },
    });
    await settle();
  });

  test("an idempotent call, or one the partner proved not processed, may be moved back to", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    apply.idempotent = true;
    const h = engineHarness({ behaviors: [behavior] });
    const { id, settle } = await callInFlight(h, "L-idempotent");
    expect((await h.engine.moveTo(id, "apply", alice)).inFlight).toBeNull();
    await settle();

    const plain = loanBehavior();
    const record = {
      ...(await h.engine.getInstance(id))!,
      step: "apply",
      inFlight: { step: "apply", attempt: 1, serial: "S-1", startedAt: 0, notProcessed: true },
    };
    const proved = previewOperatorAction(record, plain, "move", 0, "apply", testChannel);
    expect(proved.allowed).toBe(true);
  });

  test("the preview refuses the move and says why, with the channel or without it", async () => {
    const h = engineHarness();
    const { record, settle } = await callInFlight(h, "L-preview");
    for (const channel of [testChannel, undefined]) {
      const preview = previewOperatorAction(record, loanBehavior(), "move", 0, "apply", channel);
      expect(preview.allowed).toBe(false);
      expect(preview.refusal?.code).toBe("INSTANCE_CALL_IN_FLIGHT");
      expect(preview.warnings.join("\n")).toContain("callNotProcessed");
      expect(
        previewOperatorAction(record, loanBehavior(), "move", 0, "query", channel).allowed,
      ).toBe(true);
    }
    await settle();
  });
});
