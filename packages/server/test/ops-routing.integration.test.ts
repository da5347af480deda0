import type { BehaviorDefinition, InstanceRecord } from "@capflow/core";
import { pushDefinitions } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { InstanceAnswer, StartedInstanceAnswer } from "../src/index.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

/** The shop's order, where an unpaid order may go on to the product's next channel. */
const payOver = (channel: string): BehaviorDefinition => ({
  ...orderBehavior,
  channel,
  code: "pay-over",
  steps: {
    ...orderBehavior.steps,
    unpaid: { kind: "terminal", outcome: "failed", failover: true },
  },
});

describe.skipIf(!databaseUrl)("operator API on an instance's routing (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  let first: InstanceRecord;
  let second: InstanceRecord;
  const input = {
    orderNo: "P-1",
    amount: "300.00",
    customerId: "C-77",
    mobile: "13800138000",
    name: "张三",
  };

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    await pushDefinitions(server.db, {
      channels: [
        { ...shopChannel, code: "shop-north" },
        { ...shopChannel, code: "shop-south" },
      ],
      behaviors: [payOver("shop"), payOver("shop-north"), payOver("shop-south")],
      products: [
        {
          code: "shop-pay",
          name: "Pay at any shop",
          amount: "input.amount",
          customer: "input.customerId",
          failover: {},
          channels: [
            {
              channel: "shop",
              behavior: "pay-over",
              weight: 2,
              quotas: { daily: { amount: "1000.00", count: 10 } },
            },
            { channel: "shop-north", behavior: "pay-over", weight: 1 },
            {
              channel: "shop-south",
              behavior: "pay-over",
              weight: 1,
              when: "double(input.amount) > 10000.0",
            },
          ],
        },
      ],
    });
    first = await server.engine.start({ product: "shop-pay", businessKey: "P-1", input });
    expect(first.channel).toBe("shop");
    // The shop says unpaid: the business fails over to shop-north.
    const unpaid = await fetch(`${server.url}/callbacks/shop/pay.result`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orderNo: "P-1", notifyId: "N-P-1", status: "FAIL" }),
    });
    expect(unpaid.status).toBe(200);
    while ((await server.engine.runDue()) > 0) {}
    const business = await server.engine.listInstances({ product: "shop-pay", businessKey: "P-1" });
    expect(business.map((instance) => instance.channel)).toEqual(["shop", "shop-north"]);
    second = business[1]!;
  });
  afterAll(async () => {
    await server?.close();
  });

  test("the first instance: the candidates and why each was passed over, its quota released, where the business went", async () => {
    const answer = await ops("GET", `/instances/${first.id}/routing`, { token: tokens.viewer });
    expect(answer.status).toBe(200);
    const day = answer.json.routing.quotas[0].period;
    expect(day).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect(answer.json).toEqual({
      id: first.id,
      product: "shop-pay",
      routing: {
        rule: "weighted-round-robin",
        position: expect.any(Number),
        amount: "300",
        candidates: [
          { channel: "shop", behavior: "pay-over", weight: 2, state: "chosen", reason: null },
          {
            channel: "shop-north",
            behavior: "pay-over",
            weight: 1,
            state: "not-needed",
            reason: null,
          },
          {
            channel: "shop-south",
            behavior: "pay-over",
            weight: 1,
            state: "ineligible",
            reason: "when double(input.amount) > 10000.0 is false",
          },
        ],
        account: null,
        failover: null,
        quotas: [
          {
            scope: "product:shop-pay/shop",
            period: day,
            amount: "300",
            limitAmount: "1000.00",
            limitCount: 10,
            hold: "released",
            usedAmount: expect.stringMatching(/^0(\.0+)?$/),
            usedCount: 0,
          },
        ],
      },
      failoverOf: null,
      failedOverTo: second.id,
      business: [
        expect.objectContaining({
          id: first.id,
          channel: "shop",
          status: "failed",
          failoverOf: null,
        }),
        expect.objectContaining({
          id: second.id,
          channel: "shop-north",
          status: "waiting",
          failoverOf: first.id,
        }),
      ],
    });
    // No input values and no customer digest: nothing personal to mask.
    const text = JSON.stringify(answer.json);
    for (const personal of ["13800138000", "张三", "C-77", second.customerRef ?? "C-77"]) {
      expect(text).not.toContain(personal);
    }
  });

  test("the instance started by failover: the channel tried, the one chosen, where it came from", async () => {
    const answer = await ops("GET", `/instances/${second.id}/routing`, { token: tokens.viewer });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      id: second.id,
      product: "shop-pay",
      failoverOf: first.id,
      failedOverTo: null,
      routing: {
        failover: { of: first.id, tried: ["shop"] },
        quotas: [],
        candidates: [
          { channel: "shop", state: "tried", reason: null },
          { channel: "shop-north", state: "chosen", reason: null },
          { channel: "shop-south", state: "ineligible" },
        ],
      },
    });
    expect(answer.json.business.map((instance: { id: string }) => instance.id)).toEqual([
      first.id,
      second.id,
    ]);
  });

  test("an operator's start for a product answers with the routing record, as the instance's read serves it", async () => {
    const body = {
      product: "shop-pay",
      businessKey: "P-2",
      input: { ...input, orderNo: "P-2" },
      reason: "the platform asked for this payment by hand",
    };
    const started = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(started.status).toBe(200);
    const { instance } = started.json as StartedInstanceAnswer;
    expect(instance).toMatchObject({
      businessKey: "P-2",
      product: "shop-pay",
      routing: { product: "shop-pay", rule: "weighted-round-robin", amount: "300" },
    });
    expect(instance.routing?.candidates.find(({ state }) => state === "chosen")?.channel).toBe(
      instance.channel,
    );
    const read = await ops("GET", `/instances/${instance.id}`, { token: tokens.viewer });
    expect(instance.routing).toEqual((read.json as InstanceAnswer).instance.routing);
    expect((read.json as InstanceAnswer).instance.history[0]).toMatchObject({
      event: "routed",
      actor: { who: "test-operator", why: body.reason },
    });
    // The business again: the same instance and the same record, not a new choice.
    const again = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(again.json).toEqual(started.json);

    const onChannel = await ops("POST", "/instances", {
      token: tokens.operator,
      body: {
        channel: "shop",
        behavior: "order",
        businessKey: "D-2",
        input: {},
        reason: "by hand",
      },
    });
    expect(onChannel.status).toBe(200);
    expect(onChannel.json.instance).toMatchObject({ product: null, routing: null });
  });

  test("an instance started on a channel has no routing", async () => {
    const direct = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "D-1",
      input: {},
    });
    const answer = await ops("GET", `/instances/${direct.id}/routing`, { token: tokens.viewer });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      id: direct.id,
      product: null,
      routing: null,
      failoverOf: null,
      failedOverTo: null,
      business: [],
    });
  });

  test("no token, a malformed or forged one: 401; an unknown id: 404; an oversized one: 400", async () => {
    for (const authorization of [
      undefined,
      "Basic dXNlcjpwYXNz",
      "Bearer",
      "Bearer not-a-capflow-token",
      `Bearer cfo_${"A".repeat(43)}`,
      `Bearer ${tokens.viewer}x`,
    ]) {
      const answer = await ops("GET", `/instances/${first.id}/routing`, {
        headers: authorization ? { authorization } : {},
      });
      expect(answer.status, authorization).toBe(401);
      expect(answer.json.error.code).toBe("AUTH_REQUIRED");
      expect(JSON.stringify(answer.json)).not.toContain("shop-pay");
    }
    const unknown = await ops("GET", "/instances/no-such-id/routing", { token: tokens.viewer });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("INSTANCE_NOT_FOUND");
    const oversized = await ops("GET", `/instances/${"x".repeat(201)}/routing`, {
      token: tokens.viewer,
    });
    expect(oversized.status).toBe(400);
    expect(oversized.json.error.code).toBe("REQUEST_INVALID");
    const malformed = await ops("GET", "/instances/%E0%A4%A/routing", { token: tokens.viewer });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe("REQUEST_INVALID");
    // A read only: no body taken, no other method.
    const posted = await ops("POST", `/instances/${first.id}/routing`, {
      token: tokens.admin,
      body: { reason: "route it again" },
    });
    expect(posted.status).toBe(404);
  });
});
