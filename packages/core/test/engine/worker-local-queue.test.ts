import { describe, expect, test } from "vitest";
import type { ClaimRequest } from "../../src/ports/instance-store.ts";
import { Worker } from "../../src/runtime/worker.ts";
import { engineHarness } from "../support/harness.ts";
import type { ScriptedAnswer } from "../support/scripted-transport.ts";

/** A harness whose store counts claims and lease releases, and a partner that hangs once. */
function queueHarness() {
  const h = engineHarness({ engine: { leaseMs: 60_000 } });
  let answer!: (value: ScriptedAnswer) => void;
  h.transport.script(
    "/loan/apply",
    { hang: new Promise<ScriptedAnswer>((resolve) => (answer = resolve)) },
    { body: { status: "ACCEPTED" } },
  );
  const claims: { request: ClaimRequest; claimed: number }[] = [];
  const released: string[] = [];
  const claimDue = h.store.claimDue.bind(h.store);
  h.store.claimDue = async (request) => {
    const claimed = await claimDue(request);
    claims.push({ request, claimed: claimed.length });
    return claimed;
  };
  const releaseLease = h.store.releaseLease.bind(h.store);
  h.store.releaseLease = (id, owner) => {
    released.push(id);
    return releaseLease(id, owner);
  };
  return { ...h, claims, released, answer: (value: ScriptedAnswer) => answer(value) };
}

describe("Worker: the local queue of claimed instances", () => {
  test("claims ahead of its free slots, and a slot that frees starts the next without a claim", async () => {
    const h = queueHarness();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.startLoan(`L-${i}`)).id);
    const worker = new Worker(h.engine, {
      clock: h.clock,
      slots: 1,
      prefetch: 2,
      idleMs: 3_600_000,
      inboxSweepMs: 0,
    }).start();
    try {
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(1);
      // One claim for the slot and the queue; the queued two are leased, not started.
      expect(h.claims).toEqual([{ request: expect.objectContaining({ limit: 3 }), claimed: 3 }]);
      const leased = await Promise.all(ids.map((id) => h.engine.getInstance(id)));
      expect(leased.map((record) => record?.leaseOwner)).toEqual(["w1", "w1", "w1"]);

      h.answer({ body: { status: "ACCEPTED" } });
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(3);
      // Each freed slot took the next queued instance: no later claim found any of them.
      expect(h.claims.filter((claim) => claim.claimed > 0)).toHaveLength(1);
      expect(h.released).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  test("a stop gives queued instances back at once, without running them", async () => {
    const h = queueHarness();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.startLoan(`L-${i}`)).id);
    const worker = new Worker(h.engine, {
      clock: h.clock,
      slots: 1,
      prefetch: 2,
      idleMs: 3_600_000,
      inboxSweepMs: 0,
    }).start();
    await expect.poll(() => h.transport.count("/loan/apply")).toBe(1);
    const stopped = worker.stop();
    h.answer({ body: { status: "ACCEPTED" } });
    await stopped;

    expect(h.transport.count("/loan/apply")).toBe(1);
    const records = await Promise.all(ids.map((id) => h.engine.getInstance(id)));
    expect(records.map((record) => record?.leaseOwner)).toEqual([null, null, null]);
    // The running one committed its step; the queued two are where they were, due now.
    expect(records.filter((record) => record?.step === "apply")).toHaveLength(2);
    expect(h.released.sort()).toEqual(
      ids.filter((id) => records.find((r) => r?.id === id)?.step === "apply").sort(),
    );
  });

  test("an instance that waited half its lease in the queue is given back, not run on it", async () => {
    const h = queueHarness();
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await h.startLoan(`L-${i}`)).id);
    const worker = new Worker(h.engine, {
      clock: h.clock,
      slots: 1,
      prefetch: 1,
      idleMs: 3_600_000,
      inboxSweepMs: 0,
    }).start();
    try {
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(1);
      await h.clock.advance(30_000);
      h.answer({ body: { status: "ACCEPTED" } });
      // The queued one is given back when the slot frees, then claimed afresh and run.
      await expect.poll(() => h.released.length).toBe(1);
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(2);
      expect(h.claims.length).toBeGreaterThanOrEqual(2);
    } finally {
      await worker.stop();
    }
  });

  test("a queued instance that waited half its lease goes back while every slot is still busy", async () => {
    const h = queueHarness();
    const ids = new Map<string, string>();
    for (const loanNo of ["L-0", "L-1"]) ids.set(loanNo, (await h.startLoan(loanNo)).id);
    const worker = new Worker(h.engine, {
      clock: h.clock,
      slots: 1,
      prefetch: 1,
      idleMs: 3_600_000,
      inboxSweepMs: 0,
    }).start();
    try {
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(1);
      const running = (h.transport.requests[0]!.body as { loanNo: string }).loanNo;
      const queued = ids.get(running === "L-0" ? "L-1" : "L-0");
      await h.clock.advance(29_000);
      expect(h.released).toEqual([]);
      // Half its lease: given back, though the one slot still waits on the partner, so a worker
      // with a free slot can take it (here the same worker claims it afresh, with a new lease).
      await h.clock.advance(1_000);
      await expect.poll(() => h.released).toEqual([queued]);
      expect(h.transport.count("/loan/apply")).toBe(1);
      await expect.poll(() => h.claims.filter((claim) => claim.claimed > 0).length).toBe(2);
      const record = await h.engine.getInstance(queued!);
      expect(record?.leaseUntil).toBe(h.clock.now() + 60_000);

      h.answer({ body: { status: "ACCEPTED" } });
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(2);
      expect(h.released).toEqual([queued]);
    } finally {
      await worker.stop();
    }
  });

  test("while instances are queued, it claims once half the queue is used, not one by one", async () => {
    const h = queueHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push((await h.startLoan(`L-${i}`)).id);
    const worker = new Worker(h.engine, {
      clock: h.clock,
      slots: 1,
      prefetch: 4,
      idleMs: 3_600_000,
      inboxSweepMs: 0,
    }).start();
    try {
      await expect.poll(() => h.transport.count("/loan/apply")).toBe(12);
      const limits = h.claims.map((claim) => claim.request.limit);
      expect(limits[0]).toBe(5);
      expect(limits.every((limit) => limit >= 2)).toBe(true);
    } finally {
      await worker.stop();
    }
  });
});
