import type { BehaviorDefinition, ChannelDefinition, InstanceRecord } from "@capflow/core";
import { pushDefinitions } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { shopChannel } from "./support/shop-definitions.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

/** A shop that takes payments by a call (not idempotent) and answers queries about them. */
const payingShop: ChannelDefinition = {
  ...shopChannel,
  code: "paying-shop",
  interfaces: {
    "pay.submit": { method: "POST", path: "/pay" },
    "pay.query": { method: "POST", path: "/pay/query", idempotent: true },
  },
};

const payBehavior: BehaviorDefinition = {
  channel: "paying-shop",
  code: "pay",
  initial: "submit",
  steps: {
    submit: {
      kind: "call",
      interface: "pay.submit",
      request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
      onUnknownOutcome: "query",
      otherwise: "query",
    },
    query: {
      kind: "poll",
      interface: "pay.query",
      request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
      schedule: ["15s"],
      routes: [{ when: "outcome == 'succeeded'", to: "paid" }],
      onExhausted: "review",
    },
    paid: { kind: "terminal", outcome: "succeeded" },
    review: { kind: "terminal", outcome: "manual" },
  },
};

describe.skipIf(!databaseUrl)(
  "operator API: a move that would resend a call in flight (PostgreSQL)",
  () => {
    let server: TestServer;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    let ops: ReturnType<typeof opsClient>;

    beforeAll(async () => {
      server = await startTestServer();
      tokens = await tokensByRole(server.db);
      ops = opsClient(server.url);
      await pushDefinitions(server.db, { channels: [payingShop], behaviors: [payBehavior] });
    });
    afterAll(async () => {
      await server?.close();
    });

    /** An instance whose submit call was recorded as sent (a worker died before the answer). */
    async function inFlight(orderNo: string): Promise<InstanceRecord> {
      const started = await server.engine.start({
        channel: "paying-shop",
        behavior: "pay",
        businessKey: orderNo,
        input: { orderNo },
      });
      const now = Date.now();
      return server.db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: started.version,
        now,
        changes: {
          attempt: 1,
          inFlight: { step: "submit", attempt: 1, serial: `S-${orderNo}`, startedAt: now },
        },
      });
    }

    test("refused with 409 naming the query step, unless the operator confirms the partner did not process it", async () => {
      const record = await inFlight("P-1");
      const body = { step: "submit", reason: "looks stuck", expectedVersion: record.version };
      const preview = await ops("POST", `/instances/${record.id}/preview`, {
        token: tokens.operator,
        body: { action: "move", step: "submit" },
      });
      expect(preview.json).toMatchObject({ allowed: false });
      expect(preview.json.warnings.join("\n")).toContain("move to query instead");

      const refused = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body,
      });
      expect(refused.status).toBe(409);
      expect(refused.json.error.code).toBe("INSTANCE_CALL_IN_FLIGHT");
      expect(refused.json.error.message).toContain("S-P-1");
      expect(await server.engine.getInstance(record.id)).toMatchObject({
        version: record.version,
        inFlight: { serial: "S-P-1" },
      });

      const confirmed = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body: { ...body, reason: "the shop confirmed it never got S-P-1", callNotProcessed: true },
      });
      expect(confirmed.status).toBe(200);
      expect(confirmed.json.instance).toMatchObject({ step: "submit", inFlight: false });
      expect((await server.engine.history(record.id)).at(-1)).toMatchObject({
        event: "operator",
        outcome: "moveTo:submit",
        actor: { who: "test-operator", why: "the shop confirmed it never got S-P-1" },
      });
    });

    /**
     * An instance in manual review after its submit call's outcome was unknown and its query never
     * found out: the history as a worker writes it, the in-flight mark gone.
     */
    async function manualAfterUnknownOutcome(orderNo: string): Promise<InstanceRecord> {
      const started = await server.engine.start({
        channel: "paying-shop",
        behavior: "pay",
        businessKey: orderNo,
        input: { orderNo },
      });
      const now = Date.now();
      const serial = `S-${orderNo}`;
      const sent = await server.db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: started.version,
        now,
        changes: { attempt: 1, inFlight: { step: "submit", attempt: 1, serial, startedAt: now } },
        log: {
          step: "submit",
          attempt: 1,
          event: "intent",
          outcome: `serial:${serial}`,
          startedAt: now,
          durationMs: 0,
        },
      });
      const querying = await server.db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: sent.version,
        now,
        changes: { step: "query", status: "waiting", attempt: 0, inFlight: null, nextRunAt: now },
        log: {
          step: "submit",
          attempt: 1,
          event: "call",
          outcome: "unknownOutcome",
          fromStep: "submit",
          toStep: "query",
          startedAt: now,
          durationMs: 30_000,
        },
      });
      return server.db.instances.commitTransition({
        instanceId: started.id,
        expectedVersion: querying.version,
        now,
        changes: { step: "review", status: "manual", attempt: 0, nextRunAt: null },
        log: {
          step: "query",
          attempt: 1,
          event: "poll",
          outcome: "exhausted",
          fromStep: "query",
          toStep: "review",
          startedAt: now,
          durationMs: 5,
        },
      });
    }

    test("manual review after an unknown outcome: the move back to the call is refused and previewed so, unless confirmed", async () => {
      const record = await manualAfterUnknownOutcome("P-3");
      expect(record).toMatchObject({ status: "manual", inFlight: null });
      const preview = await ops("POST", `/instances/${record.id}/preview`, {
        token: tokens.operator,
        body: { action: "move", step: "submit" },
      });
      expect(preview.json).toMatchObject({ allowed: false });
      expect(preview.json.warnings.join("\n")).toContain("serial S-P-3");

      const body = { step: "submit", reason: "send it again", expectedVersion: record.version };
      const refused = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body,
      });
      expect(refused.status).toBe(409);
      expect(refused.json.error.code).toBe("INSTANCE_CALL_IN_FLIGHT");
      expect(refused.json.error.message).toContain("move to query to ask again");
      expect((await server.engine.getInstance(record.id))?.version).toBe(record.version);

      const confirmed = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body: { ...body, reason: "the shop confirmed it never got S-P-3", callNotProcessed: true },
      });
      expect(confirmed.status).toBe(200);
      expect(confirmed.json.instance).toMatchObject({ step: "submit", status: "active" });
    });

    test("a move to the query step is allowed as it is; callNotProcessed must be a boolean", async () => {
      const record = await inFlight("P-2");
      const wrongType = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body: {
          step: "submit",
          reason: "x".repeat(5),
          expectedVersion: 2,
          callNotProcessed: "yes",
        },
      });
      expect(wrongType.status).toBe(400);
      const query = await ops("POST", `/instances/${record.id}/move`, {
        token: tokens.operator,
        body: {
          step: "query",
          reason: "ask the shop what happened",
          expectedVersion: record.version,
        },
      });
      expect(query.status).toBe(200);
      expect(query.json.instance).toMatchObject({ step: "query", inFlight: false });
    });

    test("the preview of a move sent with callNotProcessed allows it, as the move does; only operators ask, only for a move", async () => {
      const record = await inFlight("P-4");
      const preview = (body: unknown, token = tokens.operator) =>
        ops("POST", `/instances/${record.id}/preview`, { token, body });
      const vouched = await preview({ action: "move", step: "submit", callNotProcessed: true });
      expect(vouched.status).toBe(200);
      expect(vouched.json).toMatchObject({
        allowed: true,
        to: { step: "submit" },
        version: record.version,
      });
      expect(vouched.json.refusal).toBeUndefined();
      expect(vouched.json.warnings.join("\n")).toContain("S-P-4");
      expect(vouched.json.warnings.join("\n")).toContain(
        "confirmed that the partner did not process it: submit sends the call again, with a new serial",
      );
      // Without it, as before: refused, with the code the move would get.
      const plain = await preview({ action: "move", step: "submit", callNotProcessed: false });
      expect(plain.json).toMatchObject({
        allowed: false,
        refusal: { code: "INSTANCE_CALL_IN_FLIGHT" },
      });

      for (const body of [
        { action: "move", step: "submit", callNotProcessed: "yes" },
        { action: "move", step: "submit", callNotProcessed: { confirmed: true } },
        { action: "retry", callNotProcessed: true },
        { action: "cancel", callNotProcessed: false },
        { action: "move", step: "submit", callNotProcessed: true, extra: 1 },
      ]) {
        const answer = await preview(body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(answer.json.error.code).toBe("REQUEST_INVALID");
      }
      expect((await preview('{"action": "move", "callNotProcessed": tr')).status).toBe(400);
      const huge = await preview({
        action: "move",
        step: "submit",
        callNotProcessed: true,
        pad: "x".repeat(2_000_000),
      });
      expect(huge.status).toBe(413);
      const viewer = await preview(
        { action: "move", step: "submit", callNotProcessed: true },
        tokens.viewer,
      );
      expect(viewer.status).toBe(403);
      const forged = await ops("POST", `/instances/${record.id}/preview`, {
        body: { action: "move", step: "submit", callNotProcessed: true },
        headers: { authorization: `Bearer cfo_${"B".repeat(43)}` },
      });
      expect(forged.status).toBe(401);
      // A preview changes nothing.
      expect(await server.engine.getInstance(record.id)).toMatchObject({
        version: record.version,
        inFlight: { serial: "S-P-4" },
      });
    });
  },
);
