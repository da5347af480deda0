import { randomUUID } from "node:crypto";
import type { InstanceRecord, NewInstance } from "@capflow/core";
import { pushDefinitions } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)(
  "operator API: a move that reopens an instance whose quota is full (PostgreSQL)",
  () => {
    let server: TestServer;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    let ops: ReturnType<typeof opsClient>;
    // One order a day on this shop, counted in its time zone.
    const scope = "product:quota-orders/quota-shop";
    const today = () =>
      new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());

    beforeAll(async () => {
      server = await startTestServer();
      tokens = await tokensByRole(server.db);
      ops = opsClient(server.url);
      await pushDefinitions(server.db, {
        channels: [{ ...shopChannel, code: "quota-shop" }],
        behaviors: [{ ...orderBehavior, channel: "quota-shop" }],
        products: [
          {
            code: "quota-orders",
            name: "Orders",
            channels: [
              {
                channel: "quota-shop",
                behavior: "order",
                weight: 1,
                quotas: { daily: { count: 1 } },
              },
            ],
          },
        ],
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    function routed(businessKey: string, now: number): NewInstance {
      return {
        id: randomUUID(),
        channel: "quota-shop",
        behavior: "order",
        businessKey,
        behaviorVersion: 1,
        inputDigest: "d1",
        input: { orderNo: businessKey },
        step: "wait",
        status: "waiting",
        waitingFor: "pay.result",
        context: {},
        snapshot: { value: "wait", context: { visits: { wait: 1 }, enteredAt: now } },
        nextRunAt: now + 3_600_000,
        now,
        product: "quota-orders",
        routing: {
          product: "quota-orders",
          rule: "weighted-round-robin",
          position: 1,
          amount: null,
          candidates: [{ channel: "quota-shop", behavior: "order", weight: 1, state: "chosen" }],
          quotas: [{ scope, period: today(), amount: "0", limitAmount: null, limitCount: 1 }],
        },
      };
    }

    async function created(businessKey: string): Promise<InstanceRecord> {
      const result = await server.db.instances.createRoutedInstance(
        routed(businessKey, Date.now()),
      );
      if (result.outcome !== "created") throw new Error(result.outcome);
      return result.instance;
    }

    test("the preview answers not allowed with the move's own refusal, QUOTA_EXHAUSTED", async () => {
      // O-1 fails (its hold released) and O-2 takes the day's one slot.
      const first = await created("O-1");
      const now = Date.now();
      const failed = await server.db.instances.commitTransition({
        instanceId: first.id,
        expectedVersion: first.version,
        now,
        changes: { step: "unpaid", status: "failed", nextRunAt: null, waitingFor: null },
        quota: "released",
        log: { step: "wait", attempt: 0, event: "callback", startedAt: now, durationMs: 0 },
      });
      await created("O-2");

      const preview = await ops("POST", `/instances/${failed.id}/preview`, {
        token: tokens.operator,
        body: { action: "move", step: "wait" },
      });
      expect(preview.status).toBe(200);
      expect(preview.json).toMatchObject({
        allowed: false,
        quota: "reserved",
        refusal: { code: "QUOTA_EXHAUSTED" },
      });
      const moved = await ops("POST", `/instances/${failed.id}/move`, {
        token: tokens.operator,
        body: {
          step: "wait",
          reason: "the shop says it was paid",
          expectedVersion: failed.version,
        },
      });
      expect(moved.status).toBe(422);
      expect(moved.json.error).toEqual(preview.json.refusal);
      expect(preview.json.warnings).toContain(moved.json.error.message);
      expect(await server.engine.getInstance(failed.id)).toEqual(failed);
    });
  },
);
