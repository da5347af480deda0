import { describe, expect, test } from "vitest";
import type { CallStep, ChannelDefinition } from "../../src/definition/types.ts";
import type { EngineEvent } from "../../src/engine/engine-events.ts";
import { pendingRefusalEntry } from "../../src/engine/refusal-run.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

/** One loan application at a time at the funder: a second is refused while the first hangs. */
const oneAtATime: ChannelDefinition = {
  ...testChannel,
  interfaces: {
    ...testChannel.interfaces,
    "loan.apply": { ...testChannel.interfaces["loan.apply"]!, concurrency: 1 },
  },
};

const refusalsOf = (events: EngineEvent[], instanceId: string) =>
  events.filter(
    (event) =>
      event.type === "partner.called" &&
      event.instanceId === instanceId &&
      event.outcome === "refused",
  );

describe("engine: flow-control refusals", () => {
  test("refusals in a row are counted on the instance and become one history entry before the call's own", async () => {
    const h = engineHarness({ channel: oneAtATime });
    let answer!: (value: ScriptedAnswer) => void;
    const hanging = new Promise<ScriptedAnswer>((resolve) => {
      answer = resolve;
    });
    h.transport.script(
      "/loan/apply",
      { hang: hanging },
      { body: { status: "ACCEPTED", applyNo: "A-2" } },
    );
    const first = await h.startLoan("L-1");
    const running = h.engine.runDue();
    while (h.transport.count("/loan/apply") === 0) await new Promise((r) => setImmediate(r));

    const second = await h.startLoan("L-2");
    const refusedAt: number[] = [];
    for (let n = 1; n <= 4; n++) {
      refusedAt.push(h.clock.now());
      expect(await h.engine.runDue()).toBe(1);
      const held = await h.engine.getInstance(second.id);
      expect(held).toMatchObject({
        step: "apply",
        status: "active",
        attempt: 0,
        version: second.version + n,
        refusals: { step: "apply", reason: "concurrency", count: n, reasons: { concurrency: n } },
      });
      expect(held?.refusals?.firstAt).toBe(refusedAt[0]);
      expect(held?.refusals?.lastAt).toBe(refusedAt[n - 1]);
      // Nothing written to the history per refusal; the view shows the run as it stands.
      expect(await h.engine.history(second.id)).toEqual([]);
      expect(pendingRefusalEntry(held!)).toMatchObject({ version: held?.version, event: "wait" });
      await h.clock.advance(2_000);
    }
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(refusalsOf(h.events, second.id)).toHaveLength(4);
    expect(refusalsOf(h.events, second.id)[0]).toMatchObject({ refusal: "concurrency" });

    answer({ body: { status: "ACCEPTED", applyNo: "A-1" } });
    await running;
    expect(await h.engine.getInstance(first.id)).toMatchObject({ step: "wait" });
    const pending = pendingRefusalEntry((await h.engine.getInstance(second.id))!);

    await h.clock.advance(2_000);
    expect(await h.engine.runDue()).toBe(1);
    const after = await h.engine.getInstance(second.id);
    expect(after).toMatchObject({ step: "wait", status: "waiting", refusals: null });
    expect(h.transport.count("/loan/apply")).toBe(2);
    expect(refusalsOf(h.events, second.id)).toHaveLength(4);

    const history = await h.engine.history(second.id);
    expect(history.map((entry) => entry.event)).toEqual(["wait", "intent", "call"]);
    expect(history[0]).toEqual(pending);
    expect(history[0]).toMatchObject({
      step: "apply",
      attempt: 0,
      outcome: "notAdmitted:concurrency",
      refusals: { count: 4, reasons: { concurrency: 4 } },
      version: second.version + 4,
      startedAt: refusedAt[0],
      durationMs: refusedAt[3]! - refusedAt[0]!,
    });
    // Versions only go up, one per commit, refusals included: none lost, none moved backwards.
    expect(history.map((entry) => entry.version)).toEqual([
      second.version + 4,
      second.version + 5,
      second.version + 6,
    ]);
    expect(after?.version).toBe(second.version + 6);
    expect(history[2]).toMatchObject({ fromStep: "apply", toStep: "wait", outcome: "processing" });
  });

  test("any other commit ends a run: an operator's action is written after the run's summary", async () => {
    const h = engineHarness({ channel: oneAtATime });
    let answer!: (value: ScriptedAnswer) => void;
    h.transport.script(
      "/loan/apply",
      { hang: new Promise<ScriptedAnswer>((resolve) => (answer = resolve)) },
      { body: { status: "ACCEPTED", applyNo: "A-2" } },
    );
    await h.startLoan("L-1");
    const running = h.engine.runDue();
    while (h.transport.count("/loan/apply") === 0) await new Promise((r) => setImmediate(r));
    const second = await h.startLoan("L-2");
    await h.engine.runDue();
    await h.clock.advance(2_000);
    await h.engine.runDue();
    answer({ body: { status: "ACCEPTED", applyNo: "A-1" } });
    await running;

    const held = (await h.engine.getInstance(second.id))!;
    expect(held.refusals?.count).toBe(2);
    await h.engine.retryNow(
      second.id,
      { who: "ops", why: "partner fixed" },
      { expectedVersion: held.version },
    );
    const history = await h.engine.history(second.id);
    expect(history.map((entry) => [entry.event, entry.refusals?.count])).toEqual([
      ["wait", 2],
      ["operator", undefined],
    ]);
    expect((await h.engine.getInstance(second.id))?.refusals).toBeNull();
  });

  test("a worker whose bulkhead for a channel is full claims none of its instances until a call returns", async () => {
    const h = engineHarness({ channel: { ...testChannel, bulkhead: 1 } });
    let answer!: (value: ScriptedAnswer) => void;
    h.transport.script(
      "/loan/apply",
      { hang: new Promise<ScriptedAnswer>((resolve) => (answer = resolve)) },
      { body: { status: "ACCEPTED", applyNo: "A-2" } },
    );
    await h.startLoan("L-1");
    const running = h.engine.runDue();
    while (h.transport.count("/loan/apply") === 0) await new Promise((r) => setImmediate(r));
    const second = await h.startLoan("L-2");

    // Due, but its call could only be refused here: not claimed, nothing written.
    expect(await h.engine.runDue()).toBe(0);
    expect(await h.engine.getInstance(second.id)).toMatchObject({
      version: second.version,
      leaseOwner: null,
      refusals: null,
    });
    // Another worker, with room, takes it.
    const other = h.makeEngine({ workerId: "w2" });
    expect(await other.claimDue()).toMatchObject([{ id: second.id, leaseOwner: "w2" }]);
    await h.store.releaseLease(second.id, "w2");

    answer({ body: { status: "ACCEPTED", applyNo: "A-1" } });
    await running;
    expect(await h.engine.runDue()).toBe(1);
    expect(await h.engine.getInstance(second.id)).toMatchObject({ step: "wait", refusals: null });
    expect(refusalsOf(h.events, second.id)).toEqual([]);
  });

  test("a call whose circuit is open is refused before it is rendered and sealed", async () => {
    const failing: ChannelDefinition = {
      ...testChannel,
      interfaces: {
        ...testChannel.interfaces,
        "loan.apply": {
          ...testChannel.interfaces["loan.apply"]!,
          breaker: {
            consecutiveTimeouts: 1,
            failureRate: 0.5,
            minimumCalls: 1,
            sampleSize: 1,
            cooldown: "30s",
          },
        },
      },
    };
    const behavior = loanBehavior();
    const apply = behavior.steps.apply as CallStep;
    apply.request = {
      ...apply.request,
      body: { ...(apply.request.body as object), seen: "{{renders}}" },
    };
    const h = engineHarness({ channel: failing, behaviors: [behavior] });
    let renders = 0;
    h.processors.register({ name: "renders", label: "renders", params: [] }, () => ++renders);
    h.transport.script("/loan/apply", { fault: "notSent" });
    const first = await h.startLoan("L-1");
    await h.engine.runDue();
    expect(renders).toBe(1);
    expect(await h.engine.getInstance(first.id)).toMatchObject({ attempt: 1, refusals: null });

    // The breaker is open: neither the retry nor a new application renders or reaches the funder.
    const second = await h.startLoan("L-2");
    await h.clock.advance(2_000);
    expect(await h.engine.runDue()).toBe(2);
    expect(renders).toBe(1);
    expect(h.transport.count("/loan/apply")).toBe(0);
    for (const id of [first.id, second.id]) {
      expect((await h.engine.getInstance(id))?.refusals).toMatchObject({
        reason: "circuit-open",
        count: 1,
      });
    }
  });
});
