import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { previewOperatorAction } from "../../src/engine/operator-action-preview.ts";
import { isCapflowError } from "../../src/errors.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

const alice = { who: "ops:alice", why: "reviewed: send the application again" };
const confirmed = { who: "ops:alice", why: "the funder confirmed it never got the application" };

const serialsSent = (h: ReturnType<typeof engineHarness>) =>
  h.transport.requests
    .filter((request) => request.path === "/loan/apply")
    .map((request) => (request.body as { serial: string }).serial);

/** The apply call times out; its query answers "processing" until the schedule is used up. */
async function manualAfterUnknownOutcome(h: ReturnType<typeof engineHarness>, key: string) {
  h.transport.script("/loan/apply", { fault: "unknownOutcome" }, { body: { status: "SUCCESS" } });
  h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
  const { id } = await h.startLoan(key);
  await h.runFor(60_000);
  const record = (await h.engine.getInstance(id))!;
  expect(record).toMatchObject({ step: "manual", status: "manual", inFlight: null });
  expect(h.transport.count("/loan/apply")).toBe(1);
  return { id, record, serial: serialsSent(h)[0]! };
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isCapflowError(error, "INSTANCE_CALL_IN_FLIGHT")).toBe(true);
  return error as Error;
}

describe("a move never resends a call whose last outcome is unknown, in flight or not", () => {
  test("manual review after the queries were used up: the move back to the call is refused, naming the serial and the query", async () => {
    const h = engineHarness();
    const { id, record, serial } = await manualAfterUnknownOutcome(h, "L-manual");
    const historyBefore = await h.engine.history(id);

    const error = await refusal(h.engine.moveTo(id, "apply", alice));
    expect(error.message).toContain(`serial ${serial}`);
    expect(error.message).toContain("move to query to ask again");
    expect(error.message).toContain("callNotProcessed");
    expect(await h.engine.getInstance(id)).toEqual(record);
    expect(await h.engine.history(id)).toEqual(historyBefore);

    // The preview says the same, given the history; asking the funder again is allowed.
    const preview = previewOperatorAction(
      record,
      loanBehavior(),
      "move",
      h.clock.now(),
      "apply",
      testChannel,
      historyBefore,
    );
    expect(preview.allowed).toBe(false);
    expect(preview.warnings.join("\n")).toContain(`serial ${serial}`);
    const query = previewOperatorAction(record, loanBehavior(), "move", 0, "query", testChannel, [
      ...historyBefore,
    ]);
    expect(query.allowed).toBe(true);
    expect(await h.engine.moveTo(id, "query", alice)).toMatchObject({ step: "query" });
  });

  test("a step of the same interface under another name is the same call: moving to it after a migration is refused", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-renamed");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "query", inFlight: null });
    // Version 2 calls loan.apply from `submit`; the instance goes on polling at its query.
    const v2 = loanBehavior();
    const { apply, ...rest } = v2.steps;
    v2.steps = { ...rest, submit: apply! };
    v2.initial = "submit";
    h.definitions.putBehavior(v2);
    const report = await h.engine.migrateInstances(
      { channel: "lanbank", behavior: "loan", from: 1, to: 2 },
      confirmed,
    );
    expect(report.moves).toEqual([expect.objectContaining({ toStep: "query", how: "continue" })]);
    const serial = serialsSent(h)[0]!;

    const error = await refusal(h.engine.moveTo(id, "submit", alice));
    expect(error.message).toContain(`serial ${serial}`);
    expect(error.message).toContain("step apply (loan.apply, as submit calls it)");
    const preview = previewOperatorAction(
      (await h.engine.getInstance(id))!,
      v2,
      "move",
      h.clock.now(),
      "submit",
      testChannel,
      await h.engine.history(id),
    );
    expect(preview.allowed).toBe(false);
    expect(h.transport.count("/loan/apply")).toBe(1);
  });

  test("with callNotProcessed the move is allowed: the call is sent again as a new attempt with a new serial", async () => {
    const h = engineHarness();
    const { id, serial } = await manualAfterUnknownOutcome(h, "L-confirmed");
    const moved = await h.engine.moveTo(id, "apply", confirmed, { callNotProcessed: true });
    expect(moved).toMatchObject({ step: "apply", status: "active", attempt: 0, inFlight: null });
    await h.runFor(1_000);

    const serials = serialsSent(h);
    expect(serials).toHaveLength(2);
    expect(serials[1]).not.toBe(serial);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    const history = await h.engine.history(id);
    // Both attempts stay in the history, and who vouched for the resend, and why.
    expect(history.filter((e) => e.event === "intent").map((e) => e.outcome)).toEqual([
      `serial:${serial}`,
      `serial:${serials[1]}`,
    ]);
    expect(history.find((e) => e.event === "operator")).toMatchObject({
      outcome: "moveTo:apply",
      actor: confirmed,
    });
    // Answered now: moving back again is the operator's call, not an unknown outcome.
    expect((await h.engine.moveTo(id, "apply", alice)).step).toBe("apply");
  });

  test("while its query still polls (no in-flight mark left), and after a move elsewhere", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-polling");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "query", inFlight: null });
    await refusal(h.engine.moveTo(id, "apply", alice));

    await h.engine.moveTo(id, "manual", { ...alice, why: "hand it to the funder's desk" });
    await refusal(h.engine.moveTo(id, "apply", alice));
    expect(h.transport.count("/loan/apply")).toBe(1);
  });

  test("a call parked with its mark, then moved away by an operator, is still refused", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    delete apply.onUnknownOutcome;
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    const { id } = await h.startLoan("L-parked");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "apply", nextRunAt: null });
    expect((await h.engine.getInstance(id))?.inFlight).not.toBeNull();
    await h.engine.moveTo(id, "manual", { ...alice, why: "look at it later" });
    expect((await h.engine.getInstance(id))?.inFlight).toBeNull();
    await refusal(h.engine.moveTo(id, "apply", alice));
  });

  test("recovery resends used up (a partner deduplicating by serial) end in manual review; the move back is refused", async () => {
    const channel: ChannelDefinition = structuredClone(testChannel);
    channel.statusTable!.codes.NOT_FOUND = { outcome: "processing" };
    channel.interfaces["loan.apply"]!.deduplicatesSerial = { grace: "1s", maxResends: 1 };
    const behavior: BehaviorDefinition = loanBehavior();
    const query = behavior.steps.query;
    if (query?.kind !== "poll") throw new Error("fixture");
    query.onNotReceived = { when: "code == 'NOT_FOUND'", resend: "apply" };
    const h = engineHarness({ channel, behaviors: [behavior] });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "NOT_FOUND" } });
    const { id } = await h.startLoan("L-resends");
    await h.runFor(60_000);
    const record = (await h.engine.getInstance(id))!;
    expect(record).toMatchObject({
      step: "manual",
      inFlight: null,
      lastError: { code: "RECOVERY_RESENDS_EXHAUSTED" },
    });
    const [first, second] = serialsSent(h);
    expect(second).toBe(first);
    const error = await refusal(h.engine.moveTo(id, "apply", alice));
    expect(error.message).toContain(`serial ${first}`);
  });

  test("an attempt the funder answered, or its query settled, may be moved back to", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "FAIL" } });
    const answered = await h.startLoan("L-answered");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(answered.id)).toMatchObject({ step: "rejected" });
    expect((await h.engine.moveTo(answered.id, "apply", alice)).step).toBe("apply");

    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "FAIL" } });
    const queried = await h.startLoan("L-queried");
    await h.runFor(5_000);
    expect(await h.engine.getInstance(queried.id)).toMatchObject({ step: "failed" });
    expect((await h.engine.moveTo(queried.id, "apply", alice)).step).toBe("apply");
  });

  test("an idempotent call is resent with its serial's rules, not refused", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("fixture");
    apply.idempotent = true;
    apply.retry = { schedule: [], on: ["unknownOutcome"] };
    const h = engineHarness({ behaviors: [behavior] });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-idempotent");
    await h.runFor(60_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "manual" });
    expect((await h.engine.moveTo(id, "apply", alice)).step).toBe("apply");
  });
});
