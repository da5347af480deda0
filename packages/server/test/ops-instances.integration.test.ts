import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API on instances (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  const ids: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    for (let i = 1; i <= 5; i++) {
      const instance = await server.engine.start({
        channel: "shop",
        behavior: "order",
        businessKey: `B-${i}`,
        input: { mobile: "13800138000", name: "张三", amount: `${i}00.00` },
      });
      ids.push(instance.id);
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  const history = (id: string) => server.engine.history(id);

  test("lists with filters and keyset paging through a cursor", async () => {
    const first = await ops("GET", "/instances?channel=shop&status=waiting&limit=2", {
      token: tokens.viewer,
    });
    expect(first.status).toBe(200);
    expect(first.json.items.map((i: { businessKey: string }) => i.businessKey)).toEqual([
      "B-1",
      "B-2",
    ]);
    expect(first.json.items[0]).toMatchObject({
      id: ids[0],
      channel: "shop",
      behavior: "order",
      behaviorVersion: 1,
      step: "wait",
      status: "waiting",
      version: 1,
      waitingFor: "pay.result",
      inFlight: false,
      lastError: null,
    });
    expect(first.json.items[0].createdAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    const seen = [...first.json.items];
    let cursor = first.json.nextCursor;
    while (cursor) {
      const page = await ops("GET", `/instances?channel=shop&limit=2&cursor=${cursor}`, {
        token: tokens.viewer,
      });
      seen.push(...page.json.items);
      cursor = page.json.nextCursor;
    }
    expect(seen.map((i) => i.businessKey)).toEqual(["B-1", "B-2", "B-3", "B-4", "B-5"]);

    const byKey = await ops("GET", "/instances?businessKey=B-3", { token: tokens.viewer });
    expect(byKey.json.items.map((i: { id: string }) => i.id)).toEqual([ids[2]]);
    const byStep = await ops("GET", "/instances?step=paid", { token: tokens.viewer });
    expect(byStep.json).toEqual({ items: [], nextCursor: null });
    const old = await ops("GET", "/instances?olderThan=1d", { token: tokens.viewer });
    expect(old.json.items).toEqual([]);
    const settled = await ops("GET", "/instances?status=succeeded,failed", {
      token: tokens.viewer,
    });
    expect(settled.json.items).toEqual([]);
  });

  test("bad filters and cursors are refused with 400", async () => {
    for (const query of [
      "status=lost",
      "limit=0",
      "limit=10000",
      "olderThan=yesterday",
      "cursor=bm90LWEtY3Vyc29y",
      "unknown=1",
    ]) {
      const answer = await ops("GET", `/instances?${query}`, { token: tokens.viewer });
      expect(answer.status, query).toBe(400);
      expect(answer.json.error.code, query).toBe("REQUEST_INVALID");
    }
  });

  test("shows one instance with its history, personal data masked", async () => {
    await server.engine.retryNow(ids[0]!, { who: "alice", why: "look again" });
    const answer = await ops("GET", `/instances/${ids[0]}`, { token: tokens.viewer });
    expect(answer.status).toBe(200);
    const { instance } = answer.json;
    expect(instance).toMatchObject({ id: ids[0], businessKey: "B-1", step: "wait" });
    expect(instance.input.amount).toBe("100.00");
    expect(JSON.stringify(instance)).not.toContain("13800138000");
    expect(JSON.stringify(instance)).not.toContain("张三");
    expect(instance.history).toHaveLength(1);
    expect(instance.history[0]).toMatchObject({
      event: "operator",
      outcome: "retryNow",
      version: 2,
      actor: { who: "alice", why: "look again" },
      fromStatus: "waiting",
    });
    expect(instance.history[0]).not.toHaveProperty("raw");
  });

  test("an unknown instance is 404 for reads and actions", async () => {
    const read = await ops("GET", "/instances/no-such-id", { token: tokens.viewer });
    expect(read.status).toBe(404);
    expect(read.json.error.code).toBe("INSTANCE_NOT_FOUND");
    const act = await ops("POST", "/instances/no-such-id/cancel", {
      token: tokens.operator,
      body: { reason: "cleanup", expectedVersion: 1 },
    });
    expect(act.status).toBe(404);
  });

  test("cancel records the authenticated operator and the reason, never a name from the body", async () => {
    const id = ids[4]!;
    const forged = await ops("POST", `/instances/${id}/cancel`, {
      token: tokens.operator,
      body: { reason: "customer withdrew", expectedVersion: 1, who: "someone-else" },
    });
    expect(forged.status).toBe(400);
    expect(await history(id)).toHaveLength(0);
    const answer = await ops("POST", `/instances/${id}/cancel`, {
      token: tokens.operator,
      body: { reason: "customer withdrew", expectedVersion: 1 },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.instance).toMatchObject({ status: "cancelled", version: 2 });
    const last = (await history(id)).at(-1);
    expect(last).toMatchObject({
      event: "operator",
      outcome: "cancel",
      actor: { who: "test-operator", why: "customer withdrew" },
    });
    const again = await ops("POST", `/instances/${id}/cancel`, {
      token: tokens.operator,
      body: { reason: "customer withdrew", expectedVersion: 2 },
    });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("INSTANCE_SETTLED");
  });

  test("an action on a version the instance has left is 409 and changes nothing", async () => {
    const id = ids[3]!;
    await server.engine.retryNow(id, { who: "worker-test", why: "moves the version on" });
    const stale = await ops("POST", `/instances/${id}/move`, {
      token: tokens.operator,
      body: { step: "review", reason: "stuck", expectedVersion: 1 },
    });
    expect(stale.status).toBe(409);
    expect(stale.json.error.code).toBe("STORE_CONFLICT");
    expect(stale.json.error.message).toContain("version 2, not 1");
    expect(await server.engine.getInstance(id)).toMatchObject({ step: "wait", version: 2 });
    expect(await history(id)).toHaveLength(1);

    const moved = await ops("POST", `/instances/${id}/move`, {
      token: tokens.operator,
      body: { step: "review", reason: "stuck", expectedVersion: 2 },
    });
    expect(moved.status).toBe(200);
    expect(moved.json.instance).toMatchObject({ step: "review", status: "manual", version: 3 });
  });

  test("a move to a step the pinned version lacks is 400 naming the steps; nothing changed", async () => {
    const id = ids[2]!;
    for (const step of ["nowhere", "constructor", "__proto__"]) {
      const answer = await ops("POST", `/instances/${id}/move`, {
        token: tokens.operator,
        body: { step, reason: "try it", expectedVersion: 1 },
      });
      expect(answer.status, step).toBe(400);
      expect(answer.json.error.code).toBe("REQUEST_INVALID");
      expect(answer.json.error.message).toContain("its steps: wait, waitGbk, paid");
    }
    expect(await history(id)).toHaveLength(0);
  });

  test("malformed bodies are 400: not JSON, wrong types, missing reason, short reason", async () => {
    const id = ids[1]!;
    for (const body of [
      "{not json",
      "[]",
      { expectedVersion: 1 },
      { reason: "", expectedVersion: 1 },
      { reason: "ok go", expectedVersion: "one" },
      { reason: "ok go", expectedVersion: 0 },
    ]) {
      const answer = await ops("POST", `/instances/${id}/retry`, {
        token: tokens.operator,
        body,
      });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.code).toBe("REQUEST_INVALID");
    }
    const wrongType = await fetch(`${server.url}/v1/ops/instances/${id}/retry`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "text/plain" },
      body: "reason=x",
    });
    expect(wrongType.status).toBe(400);
    expect(await history(id)).toHaveLength(0);
  });

  test("retry makes a waiting instance due now, recorded", async () => {
    const id = ids[1]!;
    const answer = await ops("POST", `/instances/${id}/retry`, {
      token: tokens.operator,
      body: { reason: "funder says it sent the notice", expectedVersion: 1 },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.instance).toMatchObject({ status: "waiting", version: 2 });
    expect(Date.parse(answer.json.instance.nextRunAt)).toBeLessThanOrEqual(Date.now());
    expect((await history(id)).at(-1)).toMatchObject({
      outcome: "retryNow",
      actor: { who: "test-operator" },
    });
  });

  test("inbox: unconsumed notifications, masked, for everyone and per instance", async () => {
    const notify = (body: unknown) =>
      fetch(`${server.url}/callbacks/shop/pay.result`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect(
      (await notify({ orderNo: "B-1", notifyId: "IN-1", status: "SUCCESS", mobile: "13800138000" }))
        .status,
    ).toBe(200);
    expect((await notify({ orderNo: "NOBODY", notifyId: "IN-2", status: "FAIL" })).status).toBe(
      200,
    );
    const all = await ops("GET", "/inbox?limit=1", { token: tokens.viewer });
    expect(all.status).toBe(200);
    expect(all.json.items).toHaveLength(1);
    const next = await ops("GET", `/inbox?cursor=${all.json.nextCursor}`, {
      token: tokens.viewer,
    });
    const keys = [...all.json.items, ...next.json.items].map(
      (e: { businessKey: string }) => e.businessKey,
    );
    expect(keys).toEqual(["B-1", "NOBODY"]);
    expect(JSON.stringify(all.json)).not.toContain("13800138000");
    const mine = await ops("GET", `/instances/${ids[0]}/inbox`, { token: tokens.viewer });
    expect(mine.json.items).toHaveLength(1);
    expect(mine.json.items[0]).toMatchObject({
      callback: "pay.result",
      dedupeKey: "IN-1",
      outcome: "succeeded",
      processedAt: null,
    });
  });

  test("migrations: a dry run for viewers, the move for operators, with a reason", async () => {
    const dry = await ops("POST", "/migrations", {
      token: tokens.viewer,
      body: { channel: "shop", behavior: "order", from: 1, to: 1, dryRun: true, reason: "plan" },
    });
    expect(dry.status).toBe(400);
    expect(dry.json.error.code).toBe("CONFIG_INVALID");
    const missing = await ops("POST", "/migrations", {
      token: tokens.operator,
      body: { channel: "shop", behavior: "order", from: 1, to: 2, reason: "plan" },
    });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("DEFINITION_NOT_FOUND");
  });

  test("operators start instances; the same business key returns the same instance", async () => {
    const body = {
      channel: "shop",
      behavior: "order",
      businessKey: "S-1",
      input: { n: 1 },
      reason: "the shop lost the order's request",
    };
    expect((await ops("POST", "/instances", { token: tokens.viewer, body })).status).toBe(403);
    const started = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(started.status).toBe(200);
    expect(started.json.instance).toMatchObject({ businessKey: "S-1", status: "waiting" });
    const again = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(again.json.instance.id).toBe(started.json.instance.id);
    const mismatch = await ops("POST", "/instances", {
      token: tokens.operator,
      body: { ...body, input: { n: 2 } },
    });
    expect(mismatch.status).toBe(409);
    expect(mismatch.json.error.code).toBe("INSTANCE_INPUT_MISMATCH");
    for (const bad of [
      { channel: "shop", businessKey: "S-2", input: {}, reason: "a start without a behavior" },
      { ...body, input: "not an object" },
      { ...body, extra: 1 },
    ]) {
      const answer = await ops("POST", "/instances", { token: tokens.operator, body: bad });
      expect(answer.status, JSON.stringify(bad)).toBe(400);
    }
    const unknown = await ops("POST", "/instances", {
      token: tokens.operator,
      body: { ...body, behavior: "nothing" },
    });
    expect(unknown.status).toBe(404);
  });

  test("an operator's start names the operator and the reason in the new instance's history", async () => {
    const reason = "the shop asked for this order by phone";
    const body = { channel: "shop", behavior: "order", businessKey: "S-audit", input: {}, reason };
    const started = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(started.status).toBe(200);
    const { id, version } = started.json.instance;
    expect(version).toBe(1);
    expect(await history(id)).toMatchObject([
      { event: "started", version: 1, actor: { who: "test-operator", why: reason } },
    ]);
    const shown = await ops("GET", `/instances/${id}`, { token: tokens.viewer });
    expect(shown.json.instance.history[0]).toMatchObject({
      event: "started",
      actor: { who: "test-operator", why: reason },
    });
    // Starting it again changes nothing, so records nothing.
    await ops("POST", "/instances", { token: tokens.operator, body: { ...body, reason: "again" } });
    expect(await history(id)).toHaveLength(1);
  });

  test("a start without a usable reason, or naming its own operator, is refused and stores nothing", async () => {
    const body = { channel: "shop", behavior: "order", businessKey: "S-noreason", input: {} };
    const product = { product: "nothing", businessKey: "S-noreason", input: {} };
    for (const [bad, says] of [
      [body, "give a reason"],
      [product, "give a reason"],
      [{ ...body, reason: "" }, "give a reason"],
      [{ ...body, reason: "   \t  " }, "give a reason"],
      [{ ...body, reason: 42 }, "give a reason"],
      [{ ...body, reason: "x".repeat(501) }, "at most 500"],
      [{ ...body, reason: "by hand", actor: { who: "someone-else", why: "x" } }, "invalid request"],
      [{ ...body, reason: "by hand", who: "someone-else" }, "invalid request"],
    ] as const) {
      const answer = await ops("POST", "/instances", { token: tokens.operator, body: bad });
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(answer.json.error.code).toBe("REQUEST_INVALID");
      expect(answer.json.error.message).toContain(says);
    }
    const missing = await ops("POST", "/instances", { token: tokens.operator, body });
    expect(missing.json.error.message).toContain("recorded in the instance's history");
    expect(
      await server.engine.listInstances({ channel: "shop", businessKey: "S-noreason" }),
    ).toEqual([]);
    // Authentication still comes first: no token is 401 whatever the body.
    expect((await ops("POST", "/instances", { body })).status).toBe(401);
  });

  test("late notifications: recorded after their instance settled, newest first, conflicts apart", async () => {
    const late = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "LATE-1",
      input: {},
    });
    await server.engine.moveTo(late.id, "paid", { who: "test", why: "settled by a query" });
    const notify = (notifyId: string, status: string) =>
      fetch(`${server.url}/callbacks/shop/pay.result`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ orderNo: "LATE-1", notifyId, status }),
      });
    expect((await notify("L-1", "SUCCESS")).status).toBe(200);
    expect((await notify("L-2", "FAIL")).status).toBe(200);
    await server.engine.sweepInbox({ olderThanMs: 0 });
    const all = await ops("GET", "/late-notifications?limit=1", { token: tokens.viewer });
    expect(all.status).toBe(200);
    expect(all.json.items).toHaveLength(1);
    const rest = await ops("GET", `/late-notifications?cursor=${all.json.nextCursor}`, {
      token: tokens.viewer,
    });
    const items = [...all.json.items, ...rest.json.items];
    expect(items.map((i: { outcome: string }) => i.outcome).sort()).toEqual([
      "late:failed",
      "late:succeeded",
    ]);
    expect(items.every((i: { instanceId: string }) => i.instanceId === late.id)).toBe(true);
    const conflicts = await ops("GET", "/late-notifications?conflictsOnly=true", {
      token: tokens.viewer,
    });
    expect(conflicts.json.items).toHaveLength(1);
    expect(conflicts.json.items[0]).toMatchObject({
      outcome: "late:failed",
      error: { code: "CALLBACK_LATE_CONFLICT" },
    });
  });
});
