import { randomUUID } from "node:crypto";
import type {
  InstanceRecord,
  InstanceStore,
  NewQueuedStart,
  QueuedStart,
  StartQueueStore,
} from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/**
 * How every `StartQueueStore` ends a start whose business has an instance already: closed as
 * started with it only when the instance has the start's own input digest; with other input the
 * start is given up (`INSTANCE_INPUT_MISMATCH`), never linked to that instance; with none, it
 * expires. The same rule at its expiry (`expireDue`, `expireQueuedBefore`) as at a refused attempt
 * (`markAttemptFailed`). `instances` is the instance store over the same database.
 */
export function describeStartQueueStoreContract(
  name: string,
  open: () => Promise<{
    store: StartQueueStore;
    instances: InstanceStore;
    close: () => Promise<void>;
  }>,
): void {
  describe(`StartQueueStore contract: ${name}`, () => {
    let store: StartQueueStore;
    let instances: InstanceStore;
    let close: () => Promise<void>;
    const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);
    const ttl = 60_000;

    beforeEach(async () => {
      ({ store, instances, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    async function queued(inputDigest: string): Promise<QueuedStart> {
      const start: NewQueuedStart = {
        id: randomUUID(),
        channel: "lanbank",
        behavior: "loan",
        businessKey: `L-${randomUUID()}`,
        input: { amount: "1000.00" },
        inputDigest,
        enqueuedAt: t0,
        expiresAt: t0 + ttl,
      };
      return (await store.enqueue(start)).queued;
    }

    async function startedFor(start: QueuedStart, inputDigest: string): Promise<InstanceRecord> {
      const created = await instances.createInstance({
        id: randomUUID(),
        channel: start.channel,
        behavior: start.behavior,
        businessKey: start.businessKey,
        behaviorVersion: 1,
        inputDigest,
        input: { amount: inputDigest === "d1" ? "1000.00" : "9000.00" },
        step: "apply",
        status: "active",
        context: {},
        snapshot: { value: "apply" },
        nextRunAt: t0,
        now: t0,
      });
      return created.instance;
    }

    /** Three waiting starts: one whose business started with its input, one with other input, one not. */
    async function waiting() {
      const same = await queued("d1");
      const other = await queued("d1");
      const none = await queued("d1");
      const sameInstance = await startedFor(same, "d1");
      const otherInstance = await startedFor(other, "d2");
      return { same, other, none, sameInstance, otherInstance };
    }

    async function expectEnded(w: Awaited<ReturnType<typeof waiting>>, ended: QueuedStart[]) {
      expect(await store.getQueued(w.same.id)).toMatchObject({
        status: "started",
        instanceId: w.sameInstance.id,
      });
      const refused = ended.find((start) => start.id === w.other.id);
      expect(refused).toMatchObject({
        status: "failed",
        instanceId: null,
        lastError: { code: "INSTANCE_INPUT_MISMATCH" },
      });
      // The refusal names the instance to look up, as the engine's does.
      expect(refused?.lastError?.message).toContain(w.otherInstance.id);
      expect(await store.getQueued(w.other.id)).toMatchObject({
        status: "failed",
        instanceId: null,
      });
      expect(ended.map((start) => start.id)).not.toContain(w.same.id);
    }

    test("an expiring start is closed as started only with an instance of its own input; with other input it is given up", async () => {
      const w = await waiting();
      const ended = await store.expireDue(t0 + ttl);
      await expectEnded(w, ended);
      expect(ended.find((start) => start.id === w.none.id)).toMatchObject({
        status: "expired",
        lastError: null,
      });
    });

    test("a cut-off follows the same rule: only the start without an instance expires with its reason", async () => {
      const w = await waiting();
      const reason = { code: "CALENDAR_CUTOFF_EXPIRED", message: "still queued at the cut-off" };
      const ended = await store.expireQueuedBefore({
        channel: "lanbank",
        behavior: "loan",
        before: t0 + 1,
        now: t0 + 1,
        reason,
      });
      await expectEnded(w, ended);
      expect(ended.find((start) => start.id === w.none.id)).toMatchObject({
        status: "expired",
        lastError: reason,
      });
    });

    test("a refused attempt follows the same rule", async () => {
      const w = await waiting();
      const refusal = { code: "STORE_UNAVAILABLE", message: "the connection was lost" };
      const same = await store.markAttemptFailed(w.same.id, refusal, t0 + 1, true, {
        inputDigest: "d1",
      });
      expect(same.start).toMatchObject({ status: "started", instanceId: w.sameInstance.id });
      const other = await store.markAttemptFailed(w.other.id, refusal, t0 + 1, true, {
        inputDigest: "d1",
      });
      expect(other.start).toMatchObject({ status: "failed", instanceId: null });
    });
  });
}
