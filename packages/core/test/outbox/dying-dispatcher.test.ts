import { describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { MemoryOutbox } from "../../src/memory/memory-outbox.ts";
import { createNotificationSigner } from "../../src/outbox/notification-signer.ts";
import type { NotificationTargets } from "../../src/outbox/notification-targets.ts";
import { OutboxDispatcher, type OutboxEvent } from "../../src/outbox/outbox-dispatcher.ts";
import type { Clock } from "../../src/ports/clock.ts";

const t0 = Date.UTC(2026, 0, 15, 2, 0, 0);

describe("a notification whose delivery kills its dispatcher", () => {
  test("is posted once per entry of the schedule, then failed without another post", async () => {
    let now = t0;
    const clock: Clock = { now: () => now, sleep: async () => {} };
    const store = new MemoryOutbox();
    store.insert({
      id: "evt-1",
      instanceId: "i-1",
      type: "instance.succeeded",
      payload: {} as never,
      target: null,
      createdAt: t0,
      nextAttemptAt: t0,
    });
    const signer = await createNotificationSigner(
      { algorithm: "hmac-sha256", secret: { ref: "env:SECRET" } },
      { secrets: createDefaultSecretResolver({ env: { SECRET: "s" } }) },
    );
    const options = { store, signer, clock, retrySchedule: [0, 15, 60], leaseMs: 1_000 };
    // Each delivery hangs for good, as if the process died: nothing is ever recorded.
    let started = 0;
    const hanging: NotificationTargets = {
      resolve: () => {
        started++;
        return new Promise<never>(() => {});
      },
    } as NotificationTargets;
    const events: OutboxEvent[] = [];
    const dying = new OutboxDispatcher({
      ...options,
      targets: hanging,
      timeoutMs: 500,
      onEvent: (event) => events.push(event),
    });
    for (; now <= t0 + 300_000; now += 1_000) {
      void dying.deliverDue();
      await new Promise((resolve) => setImmediate(resolve));
    }
    // At once, 15 s later, 60 s after that: not at every lease's end. The claim after the last
    // fails it without a post.
    expect(started).toBe(3);
    expect(await store.getNotification("evt-1")).toMatchObject({
      status: "failed",
      nextAttemptAt: null,
      lastError: { code: "NOTIFICATION_DELIVERY_ABANDONED" },
    });
    expect(events).toEqual([
      expect.objectContaining({
        type: "notification.failed",
        code: "NOTIFICATION_DELIVERY_ABANDONED",
        attempts: 3,
        willRetry: false,
      }),
    ]);
    expect(await dying.deliverDue()).toBe(0);
    await dying.close();
  });
});
