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
  "operator API: an instance that failed over is neither moved nor retried (PostgreSQL)",
  () => {
    let server: TestServer;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    let ops: ReturnType<typeof opsClient>;

    beforeAll(async () => {
      server = await startTestServer();
      tokens = await tokensByRole(server.db);
      ops = opsClient(server.url);
      await pushDefinitions(server.db, {
        channels: [{ ...shopChannel, code: "other-shop" }],
        behaviors: [{ ...orderBehavior, channel: "other-shop" }],
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    function routed(channel: string, businessKey: string, now: number): NewInstance {
      return {
        id: randomUUID(),
        channel,
        behavior: "order",
        businessKey,
        behaviorVersion: 1,
        inputDigest: "d1",
        input: { orderNo: businessKey },
        step: "wait",
        status: "waiting",
        waitingFor: "pay.result",
        context: {},
        snapshot: { value: "wait" },
        nextRunAt: now + 3_600_000,
        now,
        product: "orders",
        routing: {
          product: "orders",
          rule: "weighted-round-robin",
          position: 1,
          amount: null,
          candidates: [{ channel, behavior: "order", weight: 1, state: "chosen" }],
          quotas: [],
        },
      };
    }

    /** An order that failed on shop and went on at other-shop: the first instance, then its successor. */
    async function failedOver(orderNo: string): Promise<[InstanceRecord, InstanceRecord]> {
      const now = Date.now();
      const created = await server.db.instances.createRoutedInstance(routed("shop", orderNo, now));
      if (created.outcome !== "created") throw new Error(created.outcome);
      const first = created.instance;
      const spawn = { ...routed("other-shop", orderNo, now + 1), failoverOf: first.id };
      const ended = await server.db.instances.commitTransition({
        instanceId: first.id,
        expectedVersion: first.version,
        now: now + 1,
        changes: { step: "unpaid", status: "failed", nextRunAt: null, waitingFor: null },
        spawn,
        log: { step: "wait", attempt: 0, event: "callback", startedAt: now, durationMs: 0 },
      });
      return [ended, (await server.db.instances.getInstance(spawn.id))!];
    }

    test("the preview says why, the move and the retry answer 409 naming the successor", async () => {
      const [first, next] = await failedOver("O-1");
      const reason = `instance ${first.id} failed over to ${next.id}: its business goes on there, and a move would run this one again beside it; act on ${next.id} instead`;
      const preview = await ops("POST", `/instances/${first.id}/preview`, {
        token: tokens.operator,
        body: { action: "move", step: "wait" },
      });
      expect(preview.status).toBe(200);
      expect(preview.json).toMatchObject({ allowed: false });
      expect(preview.json.warnings).toContain(reason);

      const moved = await ops("POST", `/instances/${first.id}/move`, {
        token: tokens.operator,
        body: { step: "wait", reason: "the shop says it was paid", expectedVersion: first.version },
      });
      expect(moved.status).toBe(409);
      expect(moved.json.error).toEqual({ code: "INSTANCE_FAILED_OVER", message: reason });
      const retried = await ops("POST", `/instances/${first.id}/retry`, {
        token: tokens.operator,
        body: { reason: "try again", expectedVersion: first.version },
      });
      expect(retried.status).toBe(409);
      expect(retried.json.error.code).toBe("INSTANCE_FAILED_OVER");
      expect(await server.engine.getInstance(first.id)).toEqual(first);

      // Where the business lives, the same move is previewed as allowed.
      const live = await ops("POST", `/instances/${next.id}/preview`, {
        token: tokens.operator,
        body: { action: "move", step: "paid" },
      });
      expect(live.json).toMatchObject({ allowed: true, warnings: [] });
    });
  },
);
