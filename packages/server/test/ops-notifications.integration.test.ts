import type { NewNotification } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API: notifications for the upstream (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  const notes: NewNotification[] = [];

  /** An order cancelled with its notification, as an engine with notifications commits it. */
  async function cancelled(orderNo: string, at: number): Promise<NewNotification> {
    const instance = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: orderNo,
      input: { mobile: "13800138000" },
    });
    const id = `evt-${orderNo}`;
    const note: NewNotification = {
      id,
      instanceId: instance.id,
      type: "instance.cancelled",
      payload: {
        id,
        type: "instance.cancelled",
        occurredAt: new Date(at).toISOString(),
        instance: {
          id: instance.id,
          channel: "shop",
          behavior: "order",
          businessKey: orderNo,
          product: null,
          status: "cancelled",
          step: "wait",
          version: 2,
        },
        result: {},
        error: null,
      },
      target: null,
      createdAt: at,
      nextAttemptAt: at,
    };
    await server.db.instances.commitTransition({
      instanceId: instance.id,
      expectedVersion: instance.version,
      now: at,
      changes: { status: "cancelled", nextRunAt: null, waitingFor: null },
      log: { step: "wait", attempt: 0, event: "operator", startedAt: at, durationMs: 0 },
      notification: note,
    });
    return note;
  }

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    const t0 = Date.UTC(2026, 0, 5, 2);
    for (const [index, order] of ["N-1", "N-2", "N-3"].entries())
      notes.push(await cancelled(order, t0 + index * 1000));
    // N-1 was delivered; N-2 ran out of attempts.
    const store = server.db.instances;
    await store.claimNotifications({ owner: "d", now: t0 + 10_000, leaseMs: 1000, limit: 2 });
    await store.recordDelivery({ id: notes[0]!.id, owner: "d", now: t0 + 10_001, delivered: true });
    await store.recordDelivery({
      id: notes[1]!.id,
      owner: "d",
      now: t0 + 10_001,
      delivered: false,
      error: {
        code: "NOTIFICATION_DELIVERY_FAILED",
        message: "the receiver answered 503, not 2xx",
      },
      nextAttemptAt: null,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  test("viewers list notifications newest first, by status and instance, page by page", async () => {
    const all = await ops("GET", "/notifications", { token: tokens.viewer });
    expect(all.status).toBe(200);
    expect(all.json.items.map((n: { id: string }) => n.id)).toEqual([
      "evt-N-3",
      "evt-N-2",
      "evt-N-1",
    ]);
    expect(all.json.items[1]).toMatchObject({
      status: "failed",
      attempts: 1,
      nextAttemptAt: null,
      lastError: { code: "NOTIFICATION_DELIVERY_FAILED" },
      payload: { type: "instance.cancelled", instance: { businessKey: "N-2" } },
    });
    const failed = await ops("GET", "/notifications?status=failed,pending", {
      token: tokens.viewer,
    });
    expect(failed.json.items.map((n: { id: string }) => n.id)).toEqual(["evt-N-3", "evt-N-2"]);
    const one = await ops("GET", `/notifications?instanceId=${notes[0]!.instanceId}`, {
      token: tokens.viewer,
    });
    expect(one.json.items.map((n: { id: string }) => n.id)).toEqual(["evt-N-1"]);
    const first = await ops("GET", "/notifications?limit=2", { token: tokens.viewer });
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const second = await ops("GET", `/notifications?limit=2&cursor=${first.json.nextCursor}`, {
      token: tokens.viewer,
    });
    expect(second.json).toMatchObject({ items: [{ id: "evt-N-1" }], nextCursor: null });
  });

  test("malformed queries and cursors are refused", async () => {
    for (const query of ["status=lost", "limit=0", "limit=9999", "cursor=nope", "other=1"]) {
      const answer = await ops("GET", `/notifications?${query}`, { token: tokens.viewer });
      expect(answer.status, query).toBe(400);
    }
    expect((await ops("GET", "/notifications")).status).toBe(401);
  });

  test("operators re-send a failed notification; the history names them; viewers may not", async () => {
    const id = notes[1]!.id;
    const refused = await ops("POST", `/notifications/${id}/resend`, {
      token: tokens.viewer,
      body: { reason: "receiver is back" },
    });
    expect(refused.status).toBe(403);
    expect((await server.db.instances.getNotification(id))?.status).toBe("failed");

    for (const body of [{}, { reason: "" }, { reason: "ok", extra: 1 }, "not json"]) {
      const bad = await ops("POST", `/notifications/${id}/resend`, {
        token: tokens.operator,
        body,
      });
      expect(bad.status).toBe(400);
    }
    expect((await server.db.instances.getNotification(id))?.status).toBe("failed");
    expect(
      (
        await ops("POST", "/notifications/evt-none/resend", {
          token: tokens.operator,
          body: { reason: "receiver is back" },
        })
      ).status,
    ).toBe(404);

    const resent = await ops("POST", `/notifications/${id}/resend`, {
      token: tokens.operator,
      body: { reason: "receiver is back" },
    });
    expect(resent.status).toBe(200);
    expect(resent.json.notification).toMatchObject({
      id,
      status: "pending",
      attempts: 0,
      resent: { by: "test-operator" },
    });
    const history = await server.engine.history(notes[1]!.instanceId);
    expect(history.at(-1)).toMatchObject({
      event: "operator",
      outcome: `resendNotification:${id}`,
      actor: { who: "test-operator", why: "receiver is back" },
    });
  });
});
