import { randomUUID } from "node:crypto";
import {
  type InstanceRecord,
  type InstanceStore,
  isCapflowError,
  type NewInstance,
  type NewNotification,
  type OutboxStore,
  type Transition,
} from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/**
 * What every store with an outbox must do: a notification is written exactly when the transition
 * carrying it commits (never for one that does not), claims lease each due notification to one
 * dispatcher and count the attempt, delivery results follow the lease, and operators list and
 * re-send. Run it next to `describeInstanceStoreContract`.
 */
export function describeOutboxContract(
  name: string,
  open: () => Promise<{ store: InstanceStore & OutboxStore; close: () => Promise<void> }>,
): void {
  describe(`OutboxStore contract: ${name}`, () => {
    let store: InstanceStore & OutboxStore;
    let close: () => Promise<void>;
    const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    async function started(): Promise<InstanceRecord> {
      const instance: NewInstance = {
        id: randomUUID(),
        channel: "lanbank",
        behavior: "loan",
        businessKey: `L-${randomUUID()}`,
        behaviorVersion: 1,
        inputDigest: "d1",
        input: { amount: "1000.00" },
        step: "apply",
        status: "active",
        context: {},
        snapshot: { value: "apply" },
        nextRunAt: t0,
        now: t0,
      };
      return (await store.createInstance(instance)).instance;
    }

    function notification(instance: InstanceRecord, at = t0 + 1): NewNotification {
      const id = `evt-${randomUUID()}`;
      return {
        id,
        instanceId: instance.id,
        type: "instance.succeeded",
        payload: {
          id,
          type: "instance.succeeded",
          occurredAt: new Date(at).toISOString(),
          instance: {
            id: instance.id,
            channel: instance.channel,
            behavior: instance.behavior,
            businessKey: instance.businessKey,
            product: null,
            status: "succeeded",
            step: "done",
            version: instance.version + 1,
          },
          result: { apply: { loanNo: "LN-1", name: "张*" } },
          error: null,
        },
        target: "platform-a",
        createdAt: at,
        nextAttemptAt: at,
      };
    }

    function settle(
      instance: InstanceRecord,
      note: NewNotification | undefined,
      overrides: Partial<Transition> = {},
    ): Transition {
      const now = note?.createdAt ?? t0 + 1;
      return {
        instanceId: instance.id,
        expectedVersion: instance.version,
        now,
        changes: { step: "done", status: "succeeded", nextRunAt: null },
        log: {
          step: instance.step,
          attempt: 1,
          event: "transition",
          startedAt: now,
          durationMs: 1,
        },
        ...(note ? { notification: note } : {}),
        ...overrides,
      };
    }

    /** Commits a notification for a new instance; returns it. */
    async function written(
      at = t0 + 1,
      target: string | null = "platform-a",
    ): Promise<NewNotification> {
      const instance = await started();
      const note = { ...notification(instance, at), target };
      await store.commitTransition(settle(instance, note));
      return note;
    }

    test("a committed transition writes its notification, pending and due", async () => {
      const instance = await started();
      const note = notification(instance);
      await store.commitTransition(settle(instance, note));
      const stored = await store.getNotification(note.id);
      expect(stored).toEqual({
        ...note,
        status: "pending",
        attempts: 0,
        deliveredAt: null,
        lastError: null,
        leaseOwner: null,
        leaseUntil: null,
        resent: null,
      });
      expect(await store.listNotifications({ instanceId: instance.id })).toHaveLength(1);
    });

    test("a transition that loses its compare-and-set writes no notification", async () => {
      const instance = await started();
      await store.commitTransition(settle(instance, undefined, { changes: { attempt: 1 } }));
      const note = notification(instance);
      // Still expects the first version: another worker moved the instance meanwhile.
      const lost = await store.commitTransition(settle(instance, note)).catch((e: unknown) => e);
      expect(isCapflowError(lost, "STORE_CONFLICT")).toBe(true);
      expect(await store.getNotification(note.id)).toBeUndefined();
      expect(await store.listNotifications({ instanceId: instance.id })).toEqual([]);
      expect((await store.getInstance(instance.id))?.status).toBe("active");
    });

    test("a transition refused for an inbox entry applied elsewhere writes no notification", async () => {
      const instance = await started();
      const other = await started();
      const { entry } = await store.insertInbox({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loanResult",
        dedupeKey: `D-${randomUUID()}`,
        businessKey: instance.businessKey,
        payload: {},
        receivedAt: t0,
      });
      await store.commitTransition(settle(other, undefined, { consumedInbox: [entry.id] }));
      const note = notification(instance);
      const refused = await store
        .commitTransition(settle(instance, note, { consumedInbox: [entry.id] }))
        .catch((e: unknown) => e);
      expect(isCapflowError(refused, "STORE_CONFLICT")).toBe(true);
      expect(await store.getNotification(note.id)).toBeUndefined();
    });

    test("an event id written twice fails the second commit whole", async () => {
      const first = await started();
      const note = notification(first);
      await store.commitTransition(settle(first, note));
      const second = await started();
      const again = { ...notification(second), id: note.id };
      const refused = await store.commitTransition(settle(second, again)).catch((e: unknown) => e);
      expect(isCapflowError(refused, "STORE_UNIQUE_VIOLATION")).toBe(true);
      expect((await store.getInstance(second.id))?.status).toBe("active");
      expect((await store.getNotification(note.id))?.instanceId).toBe(first.id);
    });

    test("a claim leases due notifications to one owner and counts the attempt", async () => {
      const a = await written(t0 + 1);
      const b = await written(t0 + 2);
      const later = await written(t0 + 60_000);
      const claimed = await store.claimNotifications({
        owner: "d1",
        now: t0 + 10,
        leaseMs: 30_000,
        limit: 10,
      });
      expect(claimed.map((n) => n.id)).toEqual([a.id, b.id]);
      expect(claimed[0]).toMatchObject({ attempts: 1, leaseOwner: "d1", leaseUntil: t0 + 30_010 });
      // Leased: nobody else gets them until the lease runs out.
      expect(
        await store.claimNotifications({ owner: "d2", now: t0 + 20, leaseMs: 30_000, limit: 10 }),
      ).toEqual([]);
      const retaken = await store.claimNotifications({
        owner: "d2",
        now: t0 + 30_010,
        leaseMs: 30_000,
        limit: 1,
      });
      expect(retaken.map((n) => [n.id, n.attempts, n.leaseOwner])).toEqual([[a.id, 2, "d2"]]);
      expect((await store.getNotification(later.id))?.attempts).toBe(0);
    });

    test("a claim moves the next attempt along the schedule: one never recorded comes back on it", async () => {
      const note = await written(t0);
      const scheduleMs = [0, 15_000, 60_000];
      const claim = async (now: number) =>
        (
          await store.claimNotifications({ owner: "d1", now, leaseMs: 1_000, limit: 5, scheduleMs })
        ).map((n) => [n.id, n.attempts, n.nextAttemptAt]);
      expect(await claim(t0)).toEqual([[note.id, 1, t0 + 15_000]]);
      // The dispatcher died: its lease ran out, the schedule's wait has not.
      expect(await claim(t0 + 1_000)).toEqual([]);
      expect(await claim(t0 + 15_000)).toEqual([[note.id, 2, t0 + 75_000]]);
      expect(await claim(t0 + 74_999)).toEqual([]);
      // The schedule's last attempt has no wait after it: the next attempt stays where it is.
      expect(await claim(t0 + 75_000)).toEqual([[note.id, 3, t0 + 75_000]]);
      expect(await claim(t0 + 76_000)).toEqual([[note.id, 4, t0 + 75_000]]);
      // Without a schedule the claim leaves it.
      const other = await written(t0);
      await store.claimNotifications({ owner: "d1", now: t0 + 5, leaseMs: 1_000, limit: 1 });
      expect((await store.getNotification(other.id))?.nextAttemptAt).toBe(t0);
    });

    test("a claim leaves out the targets it is asked to skip, the default target (null) too", async () => {
      const a = await written(t0 + 1, "platform-a");
      const b = await written(t0 + 2, "platform-b");
      const plain = await written(t0 + 3, null);
      const claim = async (skipTargets: (string | null)[]) =>
        (
          await store.claimNotifications({
            owner: "d1",
            now: t0 + 10,
            leaseMs: 1_000,
            limit: 10,
            skipTargets,
          })
        ).map((n) => n.id);
      expect(await claim(["platform-a", null])).toEqual([b.id]);
      expect(await claim(["platform-b"])).toEqual([a.id, plain.id]);
    });

    test("a claim with a share per target brings each target up to its room, in due order", async () => {
      const a1 = await written(t0 + 1, "platform-a");
      const a2 = await written(t0 + 2, "platform-a");
      const b1 = await written(t0 + 3, "platform-b");
      const a3 = await written(t0 + 4, "platform-a");
      const b2 = await written(t0 + 5, "platform-b");
      const n1 = await written(t0 + 6, null);
      const b3 = await written(t0 + 7, "platform-b");
      const n2 = await written(t0 + 8, null);
      const claim = async (limit: number, inFlight: { target: string | null; count: number }[]) =>
        (
          await store.claimNotifications({
            owner: "d1",
            now: t0 + 10,
            leaseMs: 1_000,
            limit,
            perTarget: { limit: 2, inFlight },
          })
        ).map((n) => n.id);
      // platform-a holds one already: one more of it; two of each other target.
      expect(await claim(10, [{ target: "platform-a", count: 1 }])).toEqual([
        a1.id,
        b1.id,
        b2.id,
        n1.id,
        n2.id,
      ]);
      // The rest, the default target held at its share; the limit still applies.
      expect(await claim(2, [{ target: null, count: 2 }])).toEqual([a2.id, a3.id]);
      expect(await claim(10, [])).toEqual([b3.id]);
    });

    test("concurrent claims never hand one notification to two owners", async () => {
      for (let i = 0; i < 12; i++) await written(t0 + i);
      const claims = await Promise.all(
        ["d1", "d2", "d3", "d4"].map((owner) =>
          store.claimNotifications({ owner, now: t0 + 100, leaseMs: 30_000, limit: 5 }),
        ),
      );
      const ids = claims.flat().map((n) => n.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toHaveLength(12);
    });

    test("delivered is recorded once, and a delivered notification is never claimed again", async () => {
      const note = await written();
      await store.claimNotifications({ owner: "d1", now: t0 + 5, leaseMs: 1_000, limit: 1 });
      expect(
        await store.recordDelivery({ id: note.id, owner: "d1", now: t0 + 6, delivered: true }),
      ).toBe(true);
      expect(
        await store.recordDelivery({ id: note.id, owner: "d1", now: t0 + 7, delivered: true }),
      ).toBe(false);
      expect(await store.getNotification(note.id)).toMatchObject({
        status: "delivered",
        deliveredAt: t0 + 6,
        nextAttemptAt: null,
        leaseOwner: null,
      });
      expect(
        await store.claimNotifications({ owner: "d1", now: t0 + 99_999, leaseMs: 1_000, limit: 9 }),
      ).toEqual([]);
    });

    test("a failure schedules the next attempt, or gives up; only the lease's owner records it", async () => {
      const note = await written();
      await store.claimNotifications({ owner: "d1", now: t0 + 5, leaseMs: 1_000, limit: 1 });
      const error = { code: "HTTP_500", message: "the receiver answered 500" };
      expect(
        await store.recordDelivery({
          id: note.id,
          owner: "someone-else",
          now: t0 + 6,
          delivered: false,
          error,
          nextAttemptAt: null,
        }),
      ).toBe(false);
      expect(
        await store.recordDelivery({
          id: note.id,
          owner: "d1",
          now: t0 + 6,
          delivered: false,
          error,
          nextAttemptAt: t0 + 15_006,
        }),
      ).toBe(true);
      expect(await store.getNotification(note.id)).toMatchObject({
        status: "pending",
        attempts: 1,
        nextAttemptAt: t0 + 15_006,
        lastError: error,
        leaseOwner: null,
      });
      expect(
        await store.claimNotifications({ owner: "d1", now: t0 + 15_005, leaseMs: 1_000, limit: 1 }),
      ).toEqual([]);
      await store.claimNotifications({ owner: "d1", now: t0 + 15_006, leaseMs: 1_000, limit: 1 });
      await store.recordDelivery({
        id: note.id,
        owner: "d1",
        now: t0 + 15_007,
        delivered: false,
        error,
        nextAttemptAt: null,
      });
      expect(await store.getNotification(note.id)).toMatchObject({
        status: "failed",
        attempts: 2,
        nextAttemptAt: null,
      });
      expect(await store.outboxBacklog()).toEqual({ pending: 0, failed: 1, oldestPendingAt: null });
    });

    test("a delivery acknowledged after the lease moved on still counts; the late failure does not", async () => {
      const note = await written();
      await store.claimNotifications({ owner: "d1", now: t0 + 5, leaseMs: 1_000, limit: 1 });
      await store.claimNotifications({ owner: "d2", now: t0 + 1_005, leaseMs: 1_000, limit: 1 });
      expect(
        await store.recordDelivery({ id: note.id, owner: "d1", now: t0 + 1_006, delivered: true }),
      ).toBe(true);
      expect(
        await store.recordDelivery({
          id: note.id,
          owner: "d2",
          now: t0 + 1_007,
          delivered: false,
          error: { code: "HTTP_TIMEOUT", message: "no answer" },
          nextAttemptAt: t0 + 20_000,
        }),
      ).toBe(false);
      expect((await store.getNotification(note.id))?.status).toBe("delivered");
    });

    test("operators list newest first, filter, page, and re-send with a fresh schedule", async () => {
      const a = await written(t0 + 1);
      const b = await written(t0 + 2);
      const c = await written(t0 + 3);
      expect((await store.listNotifications({})).map((n) => n.id)).toEqual([c.id, b.id, a.id]);
      const page = await store.listNotifications({ limit: 2 });
      const last = page.at(-1)!;
      expect(
        (await store.listNotifications({ before: { createdAt: last.createdAt, id: last.id } })).map(
          (n) => n.id,
        ),
      ).toEqual([a.id]);
      await store.claimNotifications({ owner: "d1", now: t0 + 9, leaseMs: 1_000, limit: 1 });
      await store.recordDelivery({ id: a.id, owner: "d1", now: t0 + 10, delivered: true });
      expect((await store.listNotifications({ status: ["delivered"] })).map((n) => n.id)).toEqual([
        a.id,
      ]);
      expect(await store.outboxBacklog()).toEqual({
        pending: 2,
        failed: 0,
        oldestPendingAt: t0 + 2,
      });

      const done = await store.resendNotification({
        id: a.id,
        now: t0 + 50,
        by: "ops:alice",
        why: "the upstream lost it",
      });
      expect(done?.outcome).toBe("resent");
      const resent = done?.notification;
      expect(resent).toMatchObject({
        id: a.id,
        status: "pending",
        attempts: 0,
        nextAttemptAt: t0 + 50,
        deliveredAt: null,
        resent: { by: "ops:alice", at: t0 + 50, why: "the upstream lost it" },
      });
      expect(resent?.payload).toEqual(a.payload);
      const claimed = await store.claimNotifications({
        owner: "d1",
        now: t0 + 50,
        leaseMs: 1_000,
        limit: 9,
      });
      expect(claimed.map((n) => n.id)).toContain(a.id);
      expect(
        await store.resendNotification({ id: "missing", now: t0, by: "x", why: "y" }),
      ).toBeUndefined();
    });

    test("a re-send is recorded in the instance's history without changing its version", async () => {
      const instance = await started();
      const note = notification(instance);
      const waiting = await store.commitTransition(
        settle(instance, note, { changes: { step: "wait", status: "waiting", nextRunAt: t0 + 9 } }),
      );
      await store.claimNotifications({ owner: "d1", now: t0 + 2, leaseMs: 1_000, limit: 9 });
      await store.recordDelivery({ id: note.id, owner: "d1", now: t0 + 3, delivered: true });

      const resent = await store.resendNotification({
        id: note.id,
        now: t0 + 10,
        by: "ops:alice",
        why: "the upstream lost it",
      });
      expect(resent).toMatchObject({
        outcome: "resent",
        notification: { status: "pending", attempts: 0 },
      });
      expect((await store.getInstance(instance.id))?.version).toBe(waiting.version);
      const history = await store.history(instance.id);
      expect(history.at(-1)).toMatchObject({
        version: waiting.version,
        step: "wait",
        event: "operator",
        outcome: `resendNotification:${note.id}`,
        actor: { who: "ops:alice", why: "the upstream lost it" },
        startedAt: t0 + 10,
      });

      // Due already and not attempted since: a repeated request repeats nothing.
      const again = await store.resendNotification({
        id: note.id,
        now: t0 + 20,
        by: "ops:bob",
        why: "the upstream lost it",
      });
      expect(again?.outcome).toBe("awaitingFirstAttempt");
      expect(again?.notification.resent).toEqual({
        by: "ops:alice",
        at: t0 + 10,
        why: "the upstream lost it",
      });
      expect(await store.history(instance.id)).toHaveLength(history.length);

      // A writer that read the instance before the re-send still commits.
      const moved = await store.commitTransition({
        instanceId: instance.id,
        expectedVersion: waiting.version,
        now: t0 + 30,
        changes: { step: "done", status: "succeeded", nextRunAt: null },
        log: { step: "wait", attempt: 0, event: "transition", startedAt: t0 + 30, durationMs: 1 },
      });
      expect(moved.version).toBe(waiting.version + 1);
      expect((await store.history(instance.id)).map((e) => e.event).slice(-2)).toEqual([
        "operator",
        "transition",
      ]);
    });
  });
}
