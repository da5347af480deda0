import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

/**
 * PostgreSQL stores no NUL character in text or jsonb: the operator API refuses one anywhere in a
 * body with 400 naming the field, before anything is stored, instead of failing in the database.
 */
describe.skipIf(!databaseUrl)("operator API: NUL characters in bodies (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
  });
  afterAll(async () => {
    await server?.close();
  });

  const rows = async (table: string) => {
    const { rows } = (await server.db.knex.raw(
      `SELECT count(*)::int AS n FROM "${server.db.schema}"."${table}"`,
    )) as { rows: { n: number }[] };
    return rows[0]!.n;
  };

  test("a reason or an input holding one is refused with 400 REQUEST_INVALID naming the field; nothing changes", async () => {
    const instance = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "NUL-1",
      input: { mobile: "13800138000" },
    });
    const expectedVersion = instance.version;
    const reason = "the funder \u0000 asked";
    const refused: { path: string; token: string; body: Record<string, unknown>; field: string }[] =
      [
        {
          path: "/instances",
          token: tokens.operator,
          body: {
            channel: "shop",
            behavior: "order",
            businessKey: "NUL-2",
            input: { customer: { name: "Li\u0000Lei" } },
            reason: "a start by hand",
          },
          field: "input.customer.name",
        },
        {
          path: "/instances",
          token: tokens.operator,
          body: {
            channel: "shop",
            behavior: "order",
            businessKey: "NUL-3",
            input: {},
            reason,
          },
          field: "reason",
        },
        {
          path: `/instances/${instance.id}/retry`,
          token: tokens.operator,
          body: { expectedVersion, reason },
          field: "reason",
        },
        {
          path: `/instances/${instance.id}/move`,
          token: tokens.operator,
          body: { step: "waitGbk", expectedVersion, reason },
          field: "reason",
        },
        {
          path: `/instances/${instance.id}/cancel`,
          token: tokens.operator,
          body: { expectedVersion, reason },
          field: "reason",
        },
        {
          path: "/notifications/evt-none/resend",
          token: tokens.operator,
          body: { reason },
          field: "reason",
        },
        {
          path: "/tokens",
          token: tokens.admin,
          body: { name: "night-shift", role: "viewer", reason },
          field: "reason",
        },
        {
          path: "/tokens/test-viewer/revoke",
          token: tokens.admin,
          body: { reason },
          field: "reason",
        },
      ];
    const before = {
      instances: await rows("instances"),
      history: await rows("step_logs"),
      tokens: await rows("operator_tokens"),
    };
    for (const route of refused) {
      const answer = await ops("POST", route.path, { token: route.token, body: route.body });
      expect({ path: route.path, status: answer.status, error: answer.json?.error }).toEqual({
        path: route.path,
        status: 400,
        error: {
          code: "REQUEST_INVALID",
          message: `the field ${route.field} holds a NUL character (U+0000), which cannot be stored; send the request without it`,
        },
      });
    }
    expect({
      instances: await rows("instances"),
      history: await rows("step_logs"),
      tokens: await rows("operator_tokens"),
    }).toEqual(before);
    expect((await server.engine.getInstance(instance.id))?.version).toBe(expectedVersion);
    // The viewer token is still valid: its revocation was refused.
    expect((await ops("GET", "/whoami", { token: tokens.viewer })).status).toBe(200);
  });

  test("a property name holding one is named escaped, and the answer holds no NUL itself", async () => {
    const answer = await ops("POST", "/instances", {
      token: tokens.operator,
      body: {
        channel: "shop",
        behavior: "order",
        businessKey: "NUL-4",
        input: { "a\u0000b": 1 },
        reason: "a start by hand",
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toBe(
      'the field input["a\\u0000b"] holds a NUL character (U+0000), which cannot be stored; send the request without it',
    );
  });

  test("an input nested past the limit is refused with 400 naming where, and nothing is started", async () => {
    const before = await rows("instances");
    // Far past the limit, and far below the body limit (some readers recurse per level).
    const deep = JSON.parse(`${"[".repeat(1_000)}1${"]".repeat(1_000)}`) as unknown;
    const answer = await ops("POST", "/instances", {
      token: tokens.operator,
      body: {
        channel: "shop",
        behavior: "order",
        businessKey: "DEEP-1",
        input: { items: deep },
        reason: "a start by hand",
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe("REQUEST_INVALID");
    expect(answer.json.error.message).toMatch(
      /^the field input\.items(\[0\])+ nests more than 64 levels deep; send a flatter body$/,
    );
    expect(await rows("instances")).toBe(before);
  });
});
