import { describe, expect, test } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { isCapflowError } from "../../src/errors.ts";
import { InProcessLockProvider } from "../../src/memory/in-process-lock-provider.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { InstanceStore } from "../../src/ports/instance-store.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior } from "../support/loan-definitions.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

/** The loan behavior, its apply step also extracting the ID card number the funder echoes. */
function echoingBehavior() {
  const behavior = loanBehavior();
  const apply = behavior.steps.apply;
  if (apply?.kind !== "call") throw new Error("fixture");
  apply.response = { extract: { applyNo: "body.applyNo", idCardNo: "body.idCardNo" } };
  return behavior;
}

describe("notifications for the upstream are written with the change they report", () => {
  test("a settled instance writes one notification with its masked result", async () => {
    const h = engineHarness({ behaviors: [echoingBehavior()], engine: { notifications: true } });
    h.transport.script("/loan/apply", {
      body: { status: "SUCCESS", applyNo: "A-1", idCardNo: "110101199003071234" },
    });
    const { id } = await h.startLoan("L-1");
    await h.engine.runDue();
    const done = await h.engine.getInstance(id);
    expect(done?.status).toBe("succeeded");

    const [note, ...others] = await h.store.listNotifications({ instanceId: id });
    expect(others).toEqual([]);
    expect(note).toMatchObject({
      type: "instance.succeeded",
      status: "pending",
      attempts: 0,
      target: null,
      nextAttemptAt: h.clock.now(),
    });
    expect(note?.payload).toEqual({
      id: note?.id,
      type: "instance.succeeded",
      occurredAt: new Date(h.clock.now()).toISOString(),
      instance: {
        id,
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-1",
        product: null,
        status: "succeeded",
        step: "disbursed",
        version: done?.version,
      },
      result: { apply: { applyNo: "A-1", idCardNo: "110***********1234" } },
      error: null,
    });
    expect(JSON.stringify(note)).not.toContain("110101199003071234");
  });

  test("an instance an upstream client started notifies that client by default", async () => {
    const h = engineHarness({ engine: { notifications: true } });
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const { id } = await h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-client",
      input: { loanNo: "L-client", amount: 100000, idCardNo: "110101199003071234" },
      upstreamClient: "loan-platform",
    });
    expect((await h.engine.getInstance(id))?.upstreamClient).toBe("loan-platform");
    await h.engine.runDue();
    const [note] = await h.store.listNotifications({ instanceId: id });
    expect(note).toMatchObject({ type: "instance.succeeded", target: "loan-platform" });
  });

  test("without notifications configured, nothing is written", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    await h.startLoan("L-2");
    await h.engine.runDue();
    expect(await h.store.listNotifications({})).toEqual([]);
  });

  test("steps that do not settle write none; a failure, a manual review and a cancel each write one", async () => {
    const h = engineHarness({
      engine: { notifications: { target: (instance) => `upstream-of-${instance.businessKey}` } },
    });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const waiting = await h.startLoan("L-wait");
    await h.engine.runDue();
    expect((await h.engine.getInstance(waiting.id))?.status).toBe("waiting");
    expect(await h.store.listNotifications({})).toEqual([]);

    await h.callback({ loanNo: "L-wait", notifyId: "N-1", status: "FAIL" });
    await h.engine.runDue();
    const [failed] = await h.store.listNotifications({ instanceId: waiting.id });
    expect(failed).toMatchObject({ type: "instance.failed", target: "upstream-of-L-wait" });

    // Polls that never settle end in manual review: attention, reason "manual".
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const review = await h.startLoan("L-review");
    await h.runFor(60_000);
    expect((await h.engine.getInstance(review.id))?.status).toBe("manual");
    const [manual, ...more] = await h.store.listNotifications({ instanceId: review.id });
    expect(more).toEqual([]);
    expect(manual).toMatchObject({ type: "instance.attention", payload: { reason: "manual" } });

    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const cancelled = await h.startLoan("L-cancel");
    await h.engine.runDue();
    await h.engine.cancel(cancelled.id, { who: "ops:alice", why: "customer withdrew" });
    expect(await h.store.listNotifications({ instanceId: cancelled.id })).toMatchObject([
      { type: "instance.cancelled", payload: { instance: { status: "cancelled" } } },
    ]);
  });

  test("an operator settling an instance out of manual review, or correcting how it settled, notifies with a newer version", async () => {
    const h = engineHarness({ engine: { notifications: true } });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-review");
    await h.runFor(60_000);
    const review = await h.engine.getInstance(id);
    if (review === undefined) throw new Error("the instance is gone");
    expect(review.status).toBe("manual");
    const alice = { who: "ops:alice", why: "funder confirmed the payout by phone" };
    const disbursed = await h.engine.moveTo(id, "disbursed", alice, {
      expectedVersion: review.version,
    });
    expect(disbursed.status).toBe("succeeded");
    const corrected = await h.engine.moveTo(id, "failed", { ...alice, why: "payout reversed" });
    expect(corrected.status).toBe("failed");

    const notes = await h.store.listNotifications({ instanceId: id });
    const sent = notes
      .map((note) => note.payload)
      .map((payload) => ("instance" in payload ? [payload.type, payload.instance.version] : []));
    expect(sent.sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
      ["instance.attention", review.version],
      ["instance.succeeded", disbursed.version],
      ["instance.failed", corrected.version],
    ]);
    const settled = h.events.filter(
      (event) => event.type === "instance.settled" && event.instanceId === id,
    );
    expect(settled.map((event) => "status" in event && event.status)).toEqual([
      "manual",
      "succeeded",
      "failed",
    ]);
  });

  test("operator moves that leave the status settled as it was, or reopen the instance, notify nothing", async () => {
    const h = engineHarness({ engine: { notifications: true } });
    h.transport.script("/loan/apply", { body: { status: "FAIL" } });
    const { id } = await h.startLoan("L-moves");
    await h.engine.runDue();
    expect((await h.engine.getInstance(id))?.status).toBe("failed");
    const before = await h.store.listNotifications({ instanceId: id });
    expect(before.map((note) => note.type)).toEqual(["instance.failed"]);
    const settledEvents = () => h.events.filter((event) => event.type === "instance.settled");
    const settledBefore = settledEvents().length;

    const bob = { who: "ops:bob", why: "recorded under the wrong terminal step" };
    expect((await h.engine.moveTo(id, "rejected", bob)).status).toBe("failed");
    const reopened = await h.engine.moveTo(id, "query", { ...bob, why: "ask the funder again" });
    expect(reopened.status).not.toMatch(/succeeded|failed|manual|cancelled/);
    await h.engine.moveTo(id, "wait", { ...bob, why: "wait for its notification instead" });

    expect(await h.store.listNotifications({ instanceId: id })).toEqual(before);
    expect(settledEvents()).toHaveLength(settledBefore);
  });

  test("a parked instance notifies attention, with the error", async () => {
    const h = engineHarness({ engine: { notifications: true } });
    h.transport.script("/loan/apply", { body: { status: "NO-SUCH-CODE" } });
    const { id } = await h.startLoan("L-park");
    await h.engine.runDue();
    const record = await h.engine.getInstance(id);
    expect(record?.nextRunAt).toBeNull();
    const [note] = await h.store.listNotifications({ instanceId: id });
    expect(note?.payload).toMatchObject({
      type: "instance.attention",
      reason: "parked",
      instance: { status: "active", step: "apply" },
      error: { code: record?.lastError?.code },
    });
  });

  test("a worker that lost the instance mid-call writes no notification for its stale change", async () => {
    const h = engineHarness({ engine: { leaseMs: 10_000, notifications: true } });
    let release!: (answer: ScriptedAnswer) => void;
    h.transport.script("/loan/apply", {
      hang: new Promise<ScriptedAnswer>((resolve) => (release = resolve)),
    });
    h.transport.script("/loan/query", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan("L-lost");
    const stale = h.engine.runDue();
    await expect.poll(async () => (await h.engine.getInstance(id))?.inFlight).toBeTruthy();

    await h.clock.advance(10_001);
    const other = h.makeEngine({
      workerId: "w2",
      locks: new InProcessLockProvider({ clock: h.clock }),
    });
    await other.runDue();
    await h.clock.advance(1_000);
    await other.runDue();
    expect((await other.getInstance(id))?.status).toBe("succeeded");

    // The stale worker's answer would settle the instance too; its commit loses.
    release({ body: { status: "SUCCESS" } });
    await stale;
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "ownership.lost", instanceId: id }),
    );
    const notes = await h.store.listNotifications({ instanceId: id });
    expect(notes).toHaveLength(1);
    const payload = notes[0]?.payload;
    expect(payload && "instance" in payload ? payload.instance.version : undefined).toBe(
      (await h.engine.getInstance(id))?.version,
    );
  });

  test("notifications need a store with an outbox", () => {
    const memory = new MemoryInstanceStore();
    const withoutOutbox: InstanceStore = {
      ...Object.fromEntries(
        ["createInstance", "getInstance", "commitTransition", "claimDue", "close"].map((name) => [
          name,
          (memory as unknown as Record<string, unknown>)[name],
        ]),
      ),
    } as unknown as InstanceStore;
    const error = (() => {
      try {
        new Engine({
          store: withoutOutbox,
          definitions: new MemoryDefinitionSource(),
          processors: new ProcessorRegistry(),
          notifications: true,
        });
      } catch (caught) {
        return caught;
      }
    })();
    expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
  });
});
