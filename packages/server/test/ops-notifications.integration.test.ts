import { once } from "node:events";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { BehaviorDefinition, ChannelDefinition, NewNotification } from "@capflow/core";
import { pushDefinitions } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

/** A funder whose payment call (not idempotent) is answered from a loopback server. */
function fundingChannel(baseUrl: string): ChannelDefinition {
  return {
    code: "funder",
    name: "Funder",
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: { "pay.submit": { method: "POST", path: "/pay" } },
    statusTable: {
      code: "body.status",
      codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
    },
  };
}

const fundedPay: BehaviorDefinition = {
  channel: "funder",
  code: "pay",
  initial: "submit",
  steps: {
    submit: {
      kind: "call",
      interface: "pay.submit",
      request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
      routes: [
        { when: "outcome == 'succeeded'", to: "paid" },
        { when: "outcome == 'failed'", to: "unpaid" },
      ],
    },
    paid: { kind: "terminal", outcome: "succeeded" },
    unpaid: { kind: "terminal", outcome: "failed" },
  },
};

describe.skipIf(!databaseUrl)("operator API: notifications for the upstream (PostgreSQL)", () => {
  let server: TestServer;
  let funder: Server;
  /** Resolved when the funder has received a payment; the answer waits for `answer()`. */
  let received: Promise<void> = Promise.resolve();
  let answer: () => void = () => {};
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
    let arrived: () => void = () => {};
    received = new Promise((resolve) => {
      arrived = resolve;
    });
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    funder = createHttpServer((request, response) => {
      request.resume();
      request.on("end", async () => {
        arrived();
        await answered;
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ status: "SUCCESS" }));
      });
    });
    funder.listen(0, "127.0.0.1");
    await once(funder, "listening");
    const funderUrl = `http://127.0.0.1:${(funder.address() as AddressInfo).port}`;
    await pushDefinitions(server.db, {
      channels: [fundingChannel(funderUrl)],
      behaviors: [fundedPay],
    });
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
    answer();
    await server?.close();
    funder?.close();
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
    expect(resent.json.outcome).toBe("resent");
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

  test("a re-send while a worker waits for the funder leaves the worker's step to commit", async () => {
    const started = await server.engine.start({
      channel: "funder",
      behavior: "pay",
      businessKey: "R-1",
      input: { orderNo: "R-1" },
    });
    // A notification the upstream says it lost (delivered, then re-sent by an operator).
    const at = Date.now();
    const id = "evt-R-1";
    const store = server.db.instances;
    const noted = await store.commitTransition({
      instanceId: started.id,
      expectedVersion: started.version,
      now: at,
      changes: {},
      log: { step: "submit", attempt: 0, event: "operator", startedAt: at, durationMs: 0 },
      notification: {
        id,
        instanceId: started.id,
        type: "instance.attention",
        payload: {
          id,
          type: "instance.attention",
          occurredAt: new Date(at).toISOString(),
          instance: {
            id: started.id,
            channel: "funder",
            behavior: "pay",
            businessKey: "R-1",
            product: null,
            status: "active",
            step: "submit",
            version: started.version + 1,
          },
          reason: "manual",
          result: {},
          error: null,
        },
        target: null,
        createdAt: at,
        nextAttemptAt: at,
      },
    });
    await store.recordDelivery({ id, owner: "d", now: at + 1, delivered: true });

    // The worker has recorded its intent and sent the payment; the funder has not answered yet.
    const running = server.engine.runDue();
    await received;
    const calling = await server.engine.getInstance(started.id);
    expect(calling?.inFlight).toMatchObject({ step: "submit" });

    const resent = await ops("POST", `/notifications/${id}/resend`, {
      token: tokens.operator,
      body: { reason: "the upstream lost it" },
    });
    expect(resent.status).toBe(200);
    expect((await server.engine.getInstance(started.id))?.version).toBe(calling?.version);

    answer();
    await running;
    const after = await server.engine.getInstance(started.id);
    expect(after).toMatchObject({ step: "paid", status: "succeeded", inFlight: null });
    const history = await server.engine.history(started.id);
    expect(history.map((entry) => entry.event)).toEqual(["operator", "intent", "operator", "call"]);
    expect(history[2]).toMatchObject({
      version: calling?.version,
      outcome: `resendNotification:${id}`,
      actor: { who: "test-operator", why: "the upstream lost it" },
    });
    expect(noted.version).toBeLessThan(after?.version ?? 0);

    // A repeated request finds it due already: answered as it is, saying nothing was re-sent,
    // and nothing recorded again.
    const again = await ops("POST", `/notifications/${id}/resend`, {
      token: tokens.operator,
      body: { reason: "the upstream lost it" },
    });
    expect(again.status).toBe(200);
    expect(again.json.outcome).toBe("awaitingFirstAttempt");
    expect(again.json.notification.resent).toEqual(resent.json.notification.resent);
    expect(await server.engine.history(started.id)).toHaveLength(history.length);
  });
});
