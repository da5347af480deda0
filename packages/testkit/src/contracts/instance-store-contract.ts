import { randomUUID } from "node:crypto";
import {
  type InstanceRecord,
  type InstanceStore,
  isCapflowError,
  type NewInstance,
  pendingRefusalEntry,
} from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/**
 * The behaviour every `InstanceStore` must have. Run it against your adapter:
 *
 * ```ts
 * describeInstanceStoreContract("my store", async () => {
 *   const store = await openMyStore();
 *   return { store, close: () => store.close() };
 * });
 * ```
 * The suite has no adapter-specific branches: an adapter that needs one is wrong. It is one long
 * file because it is one port's contract: each case states one rule of `InstanceStore`, in the
 * order the port's doc comment gives them.
 */
export function describeInstanceStoreContract(
  name: string,
  open: () => Promise<{ store: InstanceStore; close: () => Promise<void> }>,
): void {
  describe(`InstanceStore contract: ${name}`, () => {
    let store: InstanceStore;
    let close: () => Promise<void>;
    const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    function newInstance(overrides: Partial<NewInstance> = {}): NewInstance {
      return {
        id: randomUUID(),
        channel: "lanbank",
        behavior: "loan",
        businessKey: `L-${randomUUID()}`,
        behaviorVersion: 1,
        inputDigest: "d1",
        input: { amount: "1000.00", name: "张三" },
        step: "apply",
        status: "active",
        context: {},
        snapshot: { value: "apply" },
        nextRunAt: t0,
        now: t0,
        ...overrides,
      };
    }

    async function commit(
      instance: InstanceRecord,
      changes: Parameters<InstanceStore["commitTransition"]>[0]["changes"],
      now = t0 + 1,
    ) {
      return store.commitTransition({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now,
        changes,
        log: {
          step: instance.step,
          attempt: 1,
          event: "transition",
          startedAt: now,
          durationMs: 1,
        },
      });
    }

    test("createInstance is idempotent on (channel, behavior, businessKey)", async () => {
      const first = await store.createInstance(newInstance({ businessKey: "L-1" }));
      expect(first.created).toBe(true);
      expect(first.instance.version).toBe(1);
      expect(first.instance.attempt).toBe(0);
      expect(first.instance.inFlight).toBeNull();
      const again = await store.createInstance(
        newInstance({ businessKey: "L-1", inputDigest: "other" }),
      );
      expect(again.created).toBe(false);
      expect(again.instance.id).toBe(first.instance.id);
      expect(again.instance.inputDigest).toBe("d1");
      const otherBehavior = await store.createInstance(
        newInstance({ businessKey: "L-1", behavior: "repay" }),
      );
      expect(otherBehavior.created).toBe(true);
    });

    test("an operator's start is recorded with the insert: who and why, once", async () => {
      const alice = { who: "ops:alice", why: "the upstream lost this loan's request" };
      const first = await store.createInstance(
        newInstance({ businessKey: "L-hand", startedBy: alice }),
      );
      expect(first.created).toBe(true);
      expect(first.instance).not.toHaveProperty("startedBy");
      const again = await store.createInstance(
        newInstance({ businessKey: "L-hand", startedBy: { ...alice, why: "again" } }),
      );
      expect(again.created).toBe(false);
      expect(await store.history(first.instance.id)).toMatchObject([
        { event: "started", version: 1, step: "apply", toStatus: "active", actor: alice },
      ]);
      const quiet = await store.createInstance(newInstance({ businessKey: "L-upstream" }));
      expect(await store.history(quiet.instance.id)).toEqual([]);
    });

    test("concurrent creates of one business key make one instance", async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          store.createInstance(newInstance({ businessKey: "L-race" })),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.instance.id)).size).toBe(1);
    });

    test("round-trips JSON values, Chinese text and nulls", async () => {
      const { instance } = await store.createInstance(
        newInstance({
          context: { apply: { applyNo: "A1", approved: true, amount: 100000, note: null } },
        }),
      );
      const read = await store.getInstance(instance.id);
      expect(read).toEqual(instance);
      expect(read?.input).toEqual({ amount: "1000.00", name: "张三" });
      const found = await store.findInstance(instance);
      expect(found?.id).toBe(instance.id);
      expect(await store.getInstance(randomUUID())).toBeUndefined();
    });

    test("commitTransition is a compare-and-set on the version", async () => {
      const { instance } = await store.createInstance(newInstance());
      const next = await commit(instance, {
        step: "wait",
        status: "waiting",
        nextRunAt: t0 + 60_000,
        attempt: 0,
      });
      expect(next.version).toBe(2);
      expect(next.step).toBe("wait");
      expect(next.status).toBe("waiting");
      let error: unknown;
      try {
        await commit(instance, { step: "query" });
      } catch (e) {
        error = e;
      }
      expect(isCapflowError(error, "STORE_CONFLICT")).toBe(true);
      const read = await store.getInstance(instance.id);
      expect(read?.step).toBe("wait");
      expect(await store.history(instance.id)).toHaveLength(1);
    });

    test("a commit with keepUpdatedAt changes the row and its version, not its updatedAt", async () => {
      const { instance } = await store.createInstance(newInstance());
      const marked = await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now: t0 + 7,
        changes: {
          attempt: 1,
          inFlight: { step: "apply", attempt: 1, serial: "S-1", startedAt: t0 + 7 },
        },
        log: { step: "apply", attempt: 1, event: "intent", startedAt: t0 + 7, durationMs: 0 },
        keepLease: true,
        keepUpdatedAt: true,
      });
      expect(marked.version).toBe(instance.version + 1);
      expect(marked.inFlight?.serial).toBe("S-1");
      expect(marked.updatedAt).toBe(t0);
      expect((await store.getInstance(instance.id))?.updatedAt).toBe(t0);
      const moved = await commit(marked, { step: "wait" }, t0 + 9);
      expect(moved.updatedAt).toBe(t0 + 9);
    });

    test("two commits of the same version: exactly one wins", async () => {
      const { instance } = await store.createInstance(newInstance());
      const outcomes = await Promise.allSettled([
        commit(instance, { step: "a" }),
        commit(instance, { step: "b" }),
        commit(instance, { step: "c" }),
      ]);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      for (const o of outcomes)
        if (o.status === "rejected") expect(isCapflowError(o.reason, "STORE_CONFLICT")).toBe(true);
      expect(await store.history(instance.id)).toHaveLength(1);
    });

    test("step log entries are stored with the version they produced", async () => {
      const { instance } = await store.createInstance(newInstance());
      const next = await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: 1,
        now: t0 + 5,
        changes: { step: "wait", status: "waiting", context: { apply: { applyNo: "A1" } } },
        log: {
          step: "apply",
          attempt: 1,
          event: "call",
          fromStep: "apply",
          toStep: "wait",
          outcome: "processing",
          request: { body: { idCardNo: "1101**********1234" } },
          response: { body: { code: "0000" } },
          startedAt: t0 + 1,
          durationMs: 4,
        },
      });
      const [entry] = await store.history(instance.id);
      expect(entry).toMatchObject({
        instanceId: instance.id,
        version: next.version,
        step: "apply",
        event: "call",
        toStep: "wait",
        outcome: "processing",
        request: { body: { idCardNo: "1101**********1234" } },
      });
      expect(next.context).toEqual({ apply: { applyNo: "A1" } });
    });

    test("flow-control refusals only reschedule and count; the next entry is preceded by their summary", async () => {
      const { instance } = await store.createInstance(newInstance());
      const called = await commit(instance, { attempt: 1 }, t0 + 1);
      // Five refusals in a row, as the engine records them: a compare-and-set reschedule each,
      // carrying the run so far, and no history entry.
      const reasons = ["circuit-open", "circuit-open", "circuit-open", "bulkhead", "bulkhead"];
      let record = called;
      for (const [i, reason] of reasons.entries()) {
        const at = t0 + 1_000 * (i + 1);
        const counts: Record<string, number> = {};
        for (const earlier of reasons.slice(0, i + 1)) counts[earlier] = (counts[earlier] ?? 0) + 1;
        record = await store.commitTransition({
          instanceId: record.id,
          expectedVersion: record.version,
          now: at,
          changes: {
            nextRunAt: at + 1_000,
            refusals: {
              step: "apply",
              attempt: 1,
              reason,
              count: i + 1,
              reasons: counts,
              firstAt: t0 + 1_000,
              lastAt: at,
            },
          },
        });
        expect(record.version).toBe(called.version + i + 1);
        expect(record.nextRunAt).toBe(at + 1_000);
      }
      const refused = await store.getInstance(instance.id);
      expect(refused?.refusals).toEqual({
        step: "apply",
        attempt: 1,
        reason: "bulkhead",
        count: 5,
        reasons: { "circuit-open": 3, bulkhead: 2 },
        firstAt: t0 + 1_000,
        lastAt: t0 + 5_000,
      });
      expect(await store.history(instance.id)).toHaveLength(1);
      const pending = pendingRefusalEntry(refused!);

      // A refusal from a stale version is a lost compare-and-set like any other commit.
      let stale: unknown;
      try {
        await store.commitTransition({
          instanceId: instance.id,
          expectedVersion: called.version,
          now: t0 + 9_000,
          changes: { nextRunAt: t0 + 10_000, refusals: { ...refused!.refusals!, count: 1 } },
        });
      } catch (error) {
        stale = error;
      }
      expect(isCapflowError(stale, "STORE_CONFLICT")).toBe(true);

      const moved = await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: record.version,
        now: t0 + 6_000,
        changes: { step: "wait", attempt: 0 },
        log: { step: "apply", attempt: 1, event: "call", startedAt: t0 + 6_000, durationMs: 3 },
      });
      expect(moved.refusals).toBeNull();
      expect((await store.getInstance(instance.id))?.refusals).toBeNull();
      const history = await store.history(instance.id);
      expect(history.map((entry) => [entry.version, entry.event])).toEqual([
        [called.version, "transition"],
        [record.version, "wait"],
        [moved.version, "call"],
      ]);
      expect(history[1]).toEqual({
        id: pending?.id,
        instanceId: instance.id,
        version: record.version,
        step: "apply",
        attempt: 1,
        event: "wait",
        outcome: "notAdmitted:bulkhead",
        refusals: { count: 5, reasons: { "circuit-open": 3, bulkhead: 2 } },
        startedAt: t0 + 1_000,
        durationMs: 4_000,
      });
      expect(pending).toEqual(history[1]);

      // The next run starts from one, and is written when the instance moves again.
      const again = await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: moved.version,
        now: t0 + 7_000,
        changes: {
          nextRunAt: t0 + 8_000,
          refusals: {
            step: "wait",
            attempt: 0,
            reason: "rate",
            count: 1,
            reasons: { rate: 1 },
            firstAt: t0 + 7_000,
            lastAt: t0 + 7_000,
          },
        },
      });
      expect(again.refusals?.count).toBe(1);
      const settled = await commit(again, { status: "succeeded", nextRunAt: null }, t0 + 8_000);
      expect(settled.refusals).toBeNull();
      const last = (await store.history(instance.id)).slice(-2);
      expect(last.map((entry) => [entry.version, entry.event, entry.refusals?.count])).toEqual([
        [again.version, "wait", 1],
        [settled.version, "transition", undefined],
      ]);
    });

    test("claimDue leases due instances once, and an expired lease is claimable again", async () => {
      const due = await store.createInstance(newInstance({ nextRunAt: t0 }));
      await store.createInstance(newInstance({ nextRunAt: t0 + 60_000 }));
      await store.createInstance(newInstance({ nextRunAt: null, status: "waiting" }));
      const claimed = await store.claimDue({ owner: "w1", now: t0, leaseMs: 30_000, limit: 10 });
      expect(claimed.map((i) => i.id)).toEqual([due.instance.id]);
      expect(claimed[0]?.leaseOwner).toBe("w1");
      expect(claimed[0]?.leaseUntil).toBe(t0 + 30_000);
      expect(
        await store.claimDue({ owner: "w2", now: t0 + 1000, leaseMs: 30_000, limit: 10 }),
      ).toEqual([]);
      const reclaimed = await store.claimDue({
        owner: "w2",
        now: t0 + 30_001,
        leaseMs: 30_000,
        limit: 10,
      });
      expect(reclaimed.map((i) => i.id)).toEqual([due.instance.id]);
      expect(reclaimed[0]?.leaseOwner).toBe("w2");
    });

    test("claimDue respects limit, order and channel filter; settled instances are never claimed", async () => {
      const late = await store.createInstance(newInstance({ nextRunAt: t0 - 10 }));
      const early = await store.createInstance(newInstance({ nextRunAt: t0 - 20 }));
      await store.createInstance(newInstance({ nextRunAt: t0 - 30, channel: "meadow" }));
      await store.createInstance(newInstance({ nextRunAt: t0 - 40, status: "succeeded" }));
      const claimed = await store.claimDue({
        owner: "w",
        now: t0,
        leaseMs: 1000,
        limit: 2,
        channels: ["lanbank"],
      });
      expect(claimed.map((i) => i.id)).toEqual([early.instance.id, late.instance.id]);
    });

    test("claimDue leaves out the channels a worker skips, for others or for later", async () => {
      const lanbank = await store.createInstance(newInstance({ nextRunAt: t0 - 10 }));
      const meadow = await store.createInstance(
        newInstance({ nextRunAt: t0 - 30, channel: "meadow" }),
      );
      const claim = (owner: string, skipChannels?: string[]) =>
        store.claimDue({
          owner,
          now: t0,
          leaseMs: 1000,
          limit: 5,
          ...(skipChannels ? { skipChannels } : {}),
        });
      expect((await claim("w1", ["meadow"])).map((i) => i.id)).toEqual([lanbank.instance.id]);
      expect((await claim("w2", [])).map((i) => i.id)).toEqual([meadow.instance.id]);
    });

    test("concurrent claimers never get the same instance", async () => {
      for (let i = 0; i < 40; i++) await store.createInstance(newInstance({ nextRunAt: t0 - i }));
      const batches = await Promise.all(
        Array.from({ length: 4 }, (_, w) =>
          store.claimDue({ owner: `w${w}`, now: t0, leaseMs: 60_000, limit: 15 }),
        ),
      );
      const ids = batches.flat().map((i) => i.id);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    });

    test("commit releases the lease unless asked to keep it; releaseLease gives work back", async () => {
      const { instance } = await store.createInstance(newInstance());
      const [claimed] = await store.claimDue({ owner: "w1", now: t0, leaseMs: 60_000, limit: 1 });
      const kept = await store.commitTransition({
        instanceId: claimed!.id,
        expectedVersion: claimed!.version,
        now: t0 + 1,
        changes: { inFlight: { step: "apply", attempt: 1, serial: "S1", startedAt: t0 + 1 } },
        log: { step: "apply", attempt: 1, event: "intent", startedAt: t0 + 1, durationMs: 0 },
        keepLease: true,
      });
      expect(kept.leaseOwner).toBe("w1");
      expect(kept.leaseUntil).toBe(t0 + 60_000);
      expect(kept.inFlight).toEqual({ step: "apply", attempt: 1, serial: "S1", startedAt: t0 + 1 });
      // A worker going on with the instance extends its lease.
      const extended = await store.commitTransition({
        instanceId: kept.id,
        expectedVersion: kept.version,
        now: t0 + 50_000,
        changes: { attempt: 1 },
        log: { step: "apply", attempt: 1, event: "call", startedAt: t0 + 50_000, durationMs: 0 },
        keepLease: true,
        leaseUntil: t0 + 110_000,
      });
      expect(extended).toMatchObject({ leaseOwner: "w1", leaseUntil: t0 + 110_000 });
      expect(
        await store.claimDue({ owner: "w2", now: t0 + 70_000, leaseMs: 60_000, limit: 1 }),
      ).toEqual([]);
      const released = await commit(extended, { inFlight: null, nextRunAt: t0 });
      expect(released.leaseOwner).toBeNull();
      expect(released.inFlight).toBeNull();
      const [again] = await store.claimDue({ owner: "w2", now: t0 + 2, leaseMs: 60_000, limit: 1 });
      expect(again?.id).toBe(instance.id);
      await store.releaseLease(instance.id, "someone-else");
      expect((await store.getInstance(instance.id))?.leaseOwner).toBe("w2");
      await store.releaseLease(instance.id, "w2");
      expect((await store.getInstance(instance.id))?.leaseOwner).toBeNull();
    });

    test("the inbox dedupes callbacks per channel and callback and stays until consumed", async () => {
      const entry = {
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-1",
        businessKey: "L-9",
        payload: { status: "SUCCESS", 姓名: "张三" },
        receivedAt: t0,
      };
      const first = await store.insertInbox(entry);
      expect(first.duplicate).toBe(false);
      expect(first.entry.processedAt).toBeNull();
      const second = await store.insertInbox({
        ...entry,
        id: randomUUID(),
        payload: { status: "FAIL" },
      });
      expect(second.duplicate).toBe(true);
      expect(second.entry.payload).toEqual({ status: "SUCCESS", 姓名: "张三" });
      const otherChannel = await store.insertInbox({
        ...entry,
        id: randomUUID(),
        channel: "meadow",
      });
      expect(otherChannel.duplicate).toBe(false);

      const pending = await store.pendingInbox({ channel: "lanbank", businessKey: "L-9" });
      expect(pending.map((e) => e.id)).toEqual([entry.id]);

      const { instance } = await store.createInstance(newInstance({ businessKey: "L-9" }));
      await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: 1,
        now: t0 + 10,
        changes: { step: "done", status: "succeeded" },
        log: { step: "wait", attempt: 1, event: "callback", startedAt: t0 + 10, durationMs: 0 },
        consumedInbox: [entry.id],
      });
      expect(await store.pendingInbox({ channel: "lanbank", businessKey: "L-9" })).toEqual([]);
      const again = await store.insertInbox({ ...entry, id: randomUUID() });
      expect(again.duplicate).toBe(true);
      expect(again.entry.processedAt).toBe(t0 + 10);
      expect(again.entry.instanceId).toBe(instance.id);
    });

    test("a notification of another callback with the same number is stored, not dropped as a duplicate", async () => {
      const entry = {
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-1001",
        businessKey: "L-77",
        payload: { kind: "loan" },
        receivedAt: t0,
      };
      expect((await store.insertInbox(entry)).duplicate).toBe(false);
      const repay = await store.insertInbox({
        ...entry,
        id: randomUUID(),
        callback: "repay.result",
        payload: { kind: "repay" },
      });
      expect(repay.duplicate).toBe(false);
      expect(repay.entry.payload).toEqual({ kind: "repay" });
      expect(repay.entry.callback).toBe("repay.result");
      const again = await store.insertInbox({
        ...entry,
        id: randomUUID(),
        callback: "repay.result",
      });
      expect(again.duplicate).toBe(true);
      expect(again.entry.id).toBe(repay.entry.id);
      const pending = await store.pendingInbox({ channel: "lanbank", businessKey: "L-77" });
      expect(pending.map((e) => e.callback).sort()).toEqual(["loan.result", "repay.result"]);
    });

    test("staleInbox lists unprocessed callbacks of every business key received before a time, oldest first", async () => {
      const received = (dedupeKey: string, businessKey: string, receivedAt: number) => ({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey,
        businessKey,
        payload: { n: dedupeKey },
        receivedAt,
      });
      const late = received("N-late", "L-s1", t0 + 20);
      const early = received("N-early", "L-s2", t0 + 10);
      const consumed = received("N-consumed", "L-s3", t0 + 5);
      const recent = received("N-recent", "L-s1", t0 + 1_000);
      for (const entry of [late, early, consumed, recent]) await store.insertInbox(entry);
      const { instance } = await store.createInstance(newInstance({ businessKey: "L-s3" }));
      await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: 1,
        now: t0 + 30,
        changes: {},
        log: { step: "apply", attempt: 1, event: "callback", startedAt: t0 + 30, durationMs: 0 },
        consumedInbox: [consumed.id],
      });

      const stale = await store.staleInbox({ receivedBefore: t0 + 1_000, limit: 10 });
      expect(stale.map((entry) => entry.dedupeKey)).toEqual(["N-early", "N-late"]);
      expect(stale[0]).toMatchObject({ businessKey: "L-s2", payload: { n: "N-early" } });
      expect(
        (await store.staleInbox({ receivedBefore: t0 + 1_001, limit: 2 })).map((e) => e.dedupeKey),
      ).toEqual(["N-early", "N-late"]);
      // Paging continues after the last entry seen, including past a tie on receivedAt.
      const tie = received("N-tie", "L-s4", t0 + 20);
      await store.insertInbox(tie);
      const all = await store.staleInbox({ receivedBefore: t0 + 1_000, limit: 10 });
      expect(all.map((entry) => entry.dedupeKey).sort()).toEqual(["N-early", "N-late", "N-tie"]);
      const pages: string[][] = [];
      let after: { receivedAt: number; id: string } | undefined;
      for (;;) {
        const page = await store.staleInbox({
          receivedBefore: t0 + 1_000,
          limit: 1,
          ...(after ? { after } : {}),
        });
        if (page.length === 0) break;
        pages.push(page.map((entry) => entry.dedupeKey));
        const last = page.at(-1)!;
        after = { receivedAt: last.receivedAt, id: last.id };
      }
      expect(pages).toEqual(all.map((entry) => [entry.dedupeKey]));
    });

    test("listInstances finds every behavior's instance of a business key", async () => {
      const loan = await store.createInstance(newInstance({ businessKey: "L-k" }));
      const repay = await store.createInstance(
        newInstance({ businessKey: "L-k", behavior: "repay" }),
      );
      await store.createInstance(newInstance({ businessKey: "L-other" }));
      await store.createInstance(newInstance({ businessKey: "L-k", channel: "meadow" }));
      const found = await store.listInstances({ channel: "lanbank", businessKey: "L-k" });
      expect(found.map((instance) => instance.id).sort()).toEqual(
        [loan.instance.id, repay.instance.id].sort(),
      );
    });

    test("a commit into waiting for a callback already in the inbox is due at once; other callbacks do not count", async () => {
      const notification = (businessKey: string, callback: string) =>
        store.insertInbox({
          id: randomUUID(),
          channel: "lanbank",
          callback,
          dedupeKey: `N-${randomUUID()}`,
          businessKey,
          payload: {},
          receivedAt: t0,
        });
      const { instance } = await store.createInstance(newInstance({ businessKey: "L-early" }));
      await notification("L-early", "loan.result");
      const waiting = await commit(
        instance,
        { step: "wait", status: "waiting", nextRunAt: t0 + 3_600_000, waitingFor: "loan.result" },
        t0 + 5,
      );
      expect(waiting).toMatchObject({ nextRunAt: t0 + 5, waitingFor: "loan.result" });

      // A poll or a delay (nothing awaited), or a wait for another callback, keeps its time.
      const other = await store.createInstance(newInstance({ businessKey: "L-other-cb" }));
      await notification("L-other-cb", "repay.result");
      const polling = await commit(
        other.instance,
        { step: "query", status: "waiting", nextRunAt: t0 + 60_000, waitingFor: null },
        t0 + 5,
      );
      expect(polling).toMatchObject({ nextRunAt: t0 + 60_000, waitingFor: null });
      const waitingOther = await commit(
        polling,
        { step: "wait", nextRunAt: t0 + 3_600_000, waitingFor: "loan.result" },
        t0 + 6,
      );
      expect(waitingOther.nextRunAt).toBe(t0 + 3_600_000);
    });

    test("wake makes only instances waiting for that callback due now", async () => {
      const key = { channel: "lanbank", businessKey: "L-w" };
      const waiting = await store.createInstance(
        newInstance({
          ...key,
          status: "waiting",
          nextRunAt: t0 + 3_600_000,
          waitingFor: "loan.result",
        }),
      );
      const polling = await store.createInstance(
        newInstance({ ...key, behavior: "query", status: "waiting", nextRunAt: t0 + 60_000 }),
      );
      const parked = await store.createInstance(
        newInstance({ ...key, behavior: "repay", status: "active", nextRunAt: null }),
      );
      const otherCallback = await store.createInstance(
        newInstance({
          ...key,
          behavior: "credit",
          status: "waiting",
          nextRunAt: t0 + 3_600_000,
          waitingFor: "credit.result",
        }),
      );
      const settled = await store.createInstance(
        newInstance({ ...key, behavior: "old", status: "succeeded", nextRunAt: null }),
      );
      await store.wake({ ...key, callback: "loan.result", now: t0 + 7 });
      const nextRunOf = async (created: { instance: InstanceRecord }) =>
        (await store.getInstance(created.instance.id))?.nextRunAt;
      expect(await nextRunOf(waiting)).toBe(t0 + 7);
      expect(await nextRunOf(polling)).toBe(t0 + 60_000);
      expect(await nextRunOf(parked)).toBeNull();
      expect(await nextRunOf(otherCallback)).toBe(t0 + 3_600_000);
      expect(await nextRunOf(settled)).toBeNull();
      expect((await store.getInstance(waiting.instance.id))?.version).toBe(1);
    });

    test("a notification is applied to one instance: a second commit consuming it changes nothing", async () => {
      const { entry } = await store.insertInbox({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-shared",
        businessKey: "L-shared",
        payload: {},
        receivedAt: t0,
      });
      const first = await store.createInstance(newInstance({ businessKey: "L-shared" }));
      const second = await store.createInstance(
        newInstance({ businessKey: "L-shared", behavior: "repay" }),
      );
      const consume = (instance: InstanceRecord) =>
        store.commitTransition({
          instanceId: instance.id,
          expectedVersion: instance.version,
          now: t0 + 10,
          changes: { step: "done", status: "succeeded", nextRunAt: null },
          log: { step: "wait", attempt: 1, event: "callback", startedAt: t0 + 10, durationMs: 0 },
          consumedInbox: [entry.id],
        });
      const results = await Promise.allSettled([consume(first.instance), consume(second.instance)]);
      expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
      const rejected = results.find((result) => result.status === "rejected");
      expect((rejected as PromiseRejectedResult).reason).toMatchObject({ code: "STORE_CONFLICT" });
      const loser = results[0]?.status === "rejected" ? first : second;
      expect(await store.getInstance(loser.instance.id)).toMatchObject({
        version: 1,
        status: "active",
      });
      expect(await store.history(loser.instance.id)).toEqual([]);
    });

    test("listInstances filters by channel, status and age", async () => {
      const a = await store.createInstance(newInstance({ now: t0 - 100_000 }));
      await store.createInstance(newInstance({ channel: "meadow" }));
      await store.createInstance(newInstance({ status: "manual", nextRunAt: null }));
      const stuck = await store.listInstances({
        channel: "lanbank",
        status: ["active"],
        updatedBefore: t0 - 50_000,
      });
      expect(stuck.map((i) => i.id)).toEqual([a.instance.id]);
      expect(await store.listInstances({ status: ["manual"] })).toHaveLength(1);
      expect(await store.listInstances({ limit: 2 })).toHaveLength(2);
    });

    test("listInstances pages by (createdAt, id) and filters by pinned version", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { instance } = await store.createInstance(
          newInstance({
            id: `i-${i}`,
            now: t0 + (i < 3 ? 0 : i),
            behaviorVersion: i === 4 ? 2 : 1,
          }),
        );
        ids.push(instance.id);
      }
      const first = await store.listInstances({ behaviorVersion: 1, limit: 2 });
      expect(first.map((i) => i.id)).toEqual(["i-0", "i-1"]);
      const last = first.at(-1)!;
      const rest = await store.listInstances({
        behaviorVersion: 1,
        after: { createdAt: last.createdAt, id: last.id },
      });
      expect(rest.map((i) => i.id)).toEqual(["i-2", "i-3"]);
      expect((await store.listInstances({ behaviorVersion: 2 })).map((i) => i.id)).toEqual(["i-4"]);
      const created = await store.listInstances({ createdBefore: t0 + 3 });
      expect(created.map((i) => i.id)).toEqual(["i-0", "i-1", "i-2"]);
      expect(await store.listInstances({ step: "nowhere" })).toEqual([]);
      expect((await store.listInstances({ step: first[0]!.step })).length).toBe(5);
    });

    test("unsettledByStep counts unsettled instances per pinned version and step, with examples", async () => {
      const waiting = (i: number, step: string, version = 1) =>
        store.createInstance(
          newInstance({
            businessKey: `K-${i}`,
            now: t0 + i,
            step,
            status: "waiting",
            behaviorVersion: version,
          }),
        );
      const a = await waiting(1, "wait");
      const b = await waiting(2, "wait");
      await waiting(3, "query");
      await waiting(4, "wait", 2);
      await store.createInstance(
        newInstance({ step: "done", status: "succeeded", nextRunAt: null }),
      );
      await store.createInstance(newInstance({ channel: "meadow", step: "wait" }));
      const groups = await store.unsettledByStep({ channels: ["lanbank"] });
      const byKey = Object.fromEntries(
        groups.map((g) => [`${g.channel}/${g.behavior}@${g.behaviorVersion}:${g.step}`, g]),
      );
      expect(Object.keys(byKey).sort()).toEqual([
        "lanbank/loan@1:query",
        "lanbank/loan@1:wait",
        "lanbank/loan@2:wait",
      ]);
      expect(byKey["lanbank/loan@1:wait"]).toMatchObject({
        count: 2,
        examples: [
          { id: a.instance.id, businessKey: "K-1" },
          { id: b.instance.id, businessKey: "K-2" },
        ],
      });
      expect((await store.unsettledByStep()).some((g) => g.channel === "meadow")).toBe(true);
    });

    test("a commit may move an instance to another version of its behavior", async () => {
      const { instance } = await store.createInstance(newInstance());
      const moved = await commit(instance, { behaviorVersion: 3, step: "apply2" });
      expect(moved).toMatchObject({ behaviorVersion: 3, step: "apply2", version: 2 });
      expect(await store.getInstance(instance.id)).toMatchObject({ behaviorVersion: 3 });
    });
  });
}
