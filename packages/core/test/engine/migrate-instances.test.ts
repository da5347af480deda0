import { describe, expect, test } from "vitest";
import type { BehaviorDefinition } from "../../src/definition/types.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior } from "../support/loan-definitions.ts";

const operator = { who: "alice", why: "version 2 fixes the callback routes" };

/** Version 2 renames the callback step `wait` to `awaitResult` and calls `loan.query` to apply. */
function versionTwo(applyInterface = "loan.apply"): BehaviorDefinition {
  const v2 = loanBehavior();
  const { wait, ...rest } = v2.steps;
  v2.steps = { ...rest, awaitResult: wait! };
  const apply = v2.steps.apply!;
  if (apply.kind !== "call") throw new Error("apply is a call");
  apply.interface = applyInterface;
  apply.routes = [
    { when: "outcome == 'processing'", to: "awaitResult" },
    { when: "outcome == 'succeeded'", to: "disbursed" },
    { when: "outcome == 'failed'", to: "rejected" },
  ];
  return v2;
}

async function threeInstances(h: ReturnType<typeof engineHarness>) {
  // L-3 waits for its callback, and a worker holds it right now (its deadline comes first, so it
  // is the one claimed); L-1 waits for its callback; L-2 was answered with a code no route takes:
  // parked, its attempt in flight.
  h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
  const running = await h.startLoan("L-3");
  await h.engine.runDue();
  await h.clock.advance(1_000);
  const waiting = await h.startLoan("L-1");
  await h.engine.runDue();
  h.transport.script("/loan/apply", { body: { status: "ODD" } });
  const parked = await h.startLoan("L-2");
  await h.engine.runDue();
  const claimed = await h.store.claimDue({
    owner: "w9",
    now: h.clock.now() + 3_600_000,
    leaseMs: 60_000,
    limit: 1,
  });
  expect(claimed.map((i) => i.id)).toEqual([running.id]);
  return { waiting, parked, running };
}

describe("migrating running instances to another version", () => {
  test("a dry run lists what would move and what would be refused, and why; nothing moves", async () => {
    const h = engineHarness();
    const { waiting, parked, running } = await threeInstances(h);
    expect((await h.engine.getInstance(parked.id))?.inFlight).not.toBeNull();
    h.definitions.putBehavior(versionTwo());
    const report = await h.engine.migrateInstances({
      channel: "lanbank",
      behavior: "loan",
      from: 1,
      to: 2,
      dryRun: true,
    });
    expect(report).toMatchObject({ dryRun: true, moved: 1, refused: 2, interrupted: false });
    expect(report.moves).toEqual([
      expect.objectContaining({ fromStep: "apply", toStep: "apply", how: "continue", count: 1 }),
    ]);
    expect(report.refusals).toEqual([
      expect.objectContaining({
        step: "wait",
        reason: "running",
        examples: [{ id: running.id, businessKey: "L-3" }],
      }),
      expect.objectContaining({
        step: "wait",
        reason: "step-missing",
        examples: [{ id: waiting.id, businessKey: "L-1" }],
      }),
    ]);
    expect(report.refusals[1]?.message).toContain("--map wait=<step>");
    for (const id of [waiting.id, parked.id, running.id]) {
      expect((await h.engine.getInstance(id))?.behaviorVersion).toBe(1);
    }
  });

  test("each move is a compare-and-set with the operator in the history; the instance goes on in the new version", async () => {
    const h = engineHarness();
    const { waiting, parked, running } = await threeInstances(h);
    const before = (await h.engine.getInstance(waiting.id))!;
    h.definitions.putBehavior(versionTwo());
    const request = {
      channel: "lanbank",
      behavior: "loan",
      from: 1,
      to: 2,
      map: { wait: "awaitResult" },
    };
    await expect(h.engine.migrateInstances(request)).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    const report = await h.engine.migrateInstances(request, operator);
    expect(report).toMatchObject({ moved: 2, refused: 1 });
    expect(report.refusals).toEqual([expect.objectContaining({ reason: "running", count: 1 })]);

    const moved = (await h.engine.getInstance(waiting.id))!;
    expect(moved).toMatchObject({
      behaviorVersion: 2,
      step: "awaitResult",
      status: "waiting",
      waitingFor: "loan.result",
      // The same wait goes on: its deadline still counts from when it began.
      nextRunAt: before.nextRunAt,
      version: before.version + 1,
    });
    expect((await h.engine.history(waiting.id)).at(-1)).toMatchObject({
      event: "operator",
      outcome: "migrate:1->2",
      fromStep: "wait",
      toStep: "awaitResult",
      actor: operator,
    });
    // The parked call keeps its attempt in flight: the new version's step asks before anything.
    expect(await h.engine.getInstance(parked.id)).toMatchObject({
      behaviorVersion: 2,
      step: "apply",
      nextRunAt: null,
      inFlight: expect.objectContaining({ step: "apply" }),
    });
    expect((await h.engine.getInstance(running.id))?.behaviorVersion).toBe(1);

    // The callback reaches the migrated instance, which settles by version 2's routes.
    await h.callback({ loanNo: "L-1", notifyId: "N-1", status: "SUCCESS" });
    await h.engine.runDue();
    expect(await h.engine.getInstance(waiting.id)).toMatchObject({
      status: "succeeded",
      step: "disbursed",
    });

    // Run again once the worker let go: only the one left moves, nothing moves twice.
    await h.clock.advance(3_600_000 + 120_000);
    const again = await h.engine.migrateInstances(request, operator);
    expect(again).toMatchObject({ moved: 1, refused: 0 });
    const migrations = async (id: string) =>
      (await h.engine.history(id)).filter((e) => e.outcome === "migrate:1->2").length;
    expect([
      await migrations(waiting.id),
      await migrations(parked.id),
      await migrations(running.id),
    ]).toEqual([1, 1, 1]);
  });

  test("a call attempt possibly in flight never changes step or interface", async () => {
    const h = engineHarness();
    const { parked } = await threeInstances(h);
    h.definitions.putBehavior(versionTwo("loan.query"));
    const report = await h.engine.migrateInstances(
      { channel: "lanbank", behavior: "loan", from: 1, to: 2, map: { wait: "awaitResult" } },
      operator,
    );
    expect(report.refusals).toContainEqual(
      expect.objectContaining({
        step: "apply",
        reason: "in-flight",
        examples: [{ id: parked.id, businessKey: "L-2" }],
      }),
    );
    expect((await h.engine.getInstance(parked.id))?.behaviorVersion).toBe(1);
  });

  test("entering a call afresh is refused when its last attempt's outcome is unknown, though its mark is gone", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const asking = await h.startLoan("L-unknown");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(asking.id)).toMatchObject({ step: "query", inFlight: null });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const answered = await h.startLoan("L-answered");
    await h.engine.runDue();
    expect(await h.engine.getInstance(answered.id)).toMatchObject({ step: "wait" });
    // Version 2 has no query step: mapped back to apply, the unknown attempt would go again.
    const v2 = loanBehavior();
    const { query, ...rest } = v2.steps;
    v2.steps = rest;
    (v2.steps.apply as { onUnknownOutcome?: string }).onUnknownOutcome = "manual";
    (v2.steps.wait as { onDeadline: string }).onDeadline = "manual";
    h.definitions.putBehavior(v2);
    const request = { channel: "lanbank", behavior: "loan", from: 1, to: 2 };
    const report = await h.engine.migrateInstances(
      { ...request, map: { query: "apply", wait: "apply" } },
      operator,
    );
    expect(report.moves).toEqual([
      expect.objectContaining({ fromStep: "wait", toStep: "apply", how: "reenter", count: 1 }),
    ]);
    expect(report.refusals).toEqual([
      expect.objectContaining({
        step: "query",
        reason: "in-flight",
        examples: [{ id: asking.id, businessKey: "L-unknown" }],
      }),
    ]);
    const serial = (await h.engine.history(asking.id)).find((e) => e.event === "intent")?.outcome;
    expect(report.refusals[0]?.message).toContain(`serial ${serial?.slice("serial:".length)}`);
    expect((await h.engine.getInstance(asking.id))?.behaviorVersion).toBe(1);
  });

  test("a call renamed by the new version is the same call: its unknown attempt is not sent again under the new name", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const asking = await h.startLoan("L-renamed");
    await h.runFor(1_000);
    expect(await h.engine.getInstance(asking.id)).toMatchObject({ step: "query", inFlight: null });
    // Version 2 calls loan.apply from a step named `submit`, and has no query step.
    const v2 = loanBehavior();
    const { query, apply, ...rest } = v2.steps;
    (apply as { onUnknownOutcome?: string }).onUnknownOutcome = "manual";
    v2.steps = { ...rest, submit: apply! };
    v2.initial = "submit";
    (v2.steps.wait as { onDeadline: string }).onDeadline = "manual";
    h.definitions.putBehavior(v2);
    const report = await h.engine.migrateInstances(
      { channel: "lanbank", behavior: "loan", from: 1, to: 2, map: { query: "submit" } },
      operator,
    );
    expect(report).toMatchObject({ moved: 0, refused: 1 });
    const serial = (await h.engine.history(asking.id)).find((e) => e.event === "intent")?.outcome;
    expect(report.refusals).toEqual([
      expect.objectContaining({
        step: "query",
        reason: "in-flight",
        examples: [{ id: asking.id, businessKey: "L-renamed" }],
      }),
    ]);
    expect(report.refusals[0]?.message).toContain(
      `step "apply" (loan.apply, which "submit" calls)`,
    );
    expect(report.refusals[0]?.message).toContain(`serial ${serial?.slice("serial:".length)}`);
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    await h.runFor(1_000);
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect((await h.engine.getInstance(asking.id))?.behaviorVersion).toBe(1);
  });

  test("parked instances can be made due as they move; mapping to a missing or terminal step is refused up front", async () => {
    const h = engineHarness();
    const { parked } = await threeInstances(h);
    h.definitions.putBehavior(versionTwo());
    await expect(
      h.engine.migrateInstances(
        { channel: "lanbank", behavior: "loan", from: 1, to: 2, map: { wait: "nowhere" } },
        operator,
      ),
    ).rejects.toThrow('has no step "nowhere"');
    await expect(
      h.engine.migrateInstances(
        { channel: "lanbank", behavior: "loan", from: 1, to: 2, map: { wait: "disbursed" } },
        operator,
      ),
    ).rejects.toThrow("terminal");
    await h.engine.migrateInstances(
      {
        channel: "lanbank",
        behavior: "loan",
        from: 1,
        to: 2,
        map: { wait: "awaitResult" },
        retryParked: true,
      },
      operator,
    );
    expect((await h.engine.getInstance(parked.id))?.nextRunAt).toBe(h.clock.now());
  });
});
