import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API: every action needs a reason (PostgreSQL)", () => {
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

  test("a blank reason is refused with 400 saying what to send, and nothing changes", async () => {
    const instance = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "B-1",
      input: { mobile: "13800138000" },
    });
    const expectedVersion = instance.version;
    const routes: { path: string; token: string; body: Record<string, unknown> }[] = [
      {
        path: `/instances/${instance.id}/retry`,
        token: tokens.operator,
        body: { expectedVersion },
      },
      {
        path: `/instances/${instance.id}/move`,
        token: tokens.operator,
        body: { step: "waitGbk", expectedVersion },
      },
      {
        path: `/instances/${instance.id}/cancel`,
        token: tokens.operator,
        body: { expectedVersion },
      },
      { path: "/notifications/evt-none/resend", token: tokens.operator, body: {} },
      {
        path: "/migrations",
        token: tokens.operator,
        body: { channel: "shop", behavior: "order", from: 1, to: 1 },
      },
      { path: `/tokens/test-viewer/revoke`, token: tokens.admin, body: {} },
    ];
    for (const route of routes) {
      for (const reason of ["   ", "\t\n \u3000", " a ", "a\n\n"]) {
        const answer = await ops("POST", route.path, {
          token: route.token,
          body: { ...route.body, reason },
        });
        expect(answer.status, `${route.path} ${JSON.stringify(reason)}`).toBe(400);
        expect(answer.json.error.code).toBe("REQUEST_INVALID");
        expect(answer.json.error.message).toContain('"reason" in the body');
      }
    }
    expect((await server.engine.getInstance(instance.id))?.version).toBe(expectedVersion);
    expect((await ops("GET", "/whoami", { token: tokens.viewer })).status).toBe(200);

    const cancelled = await ops("POST", `/instances/${instance.id}/cancel`, {
      token: tokens.operator,
      body: { expectedVersion, reason: "  customer withdrew  " },
    });
    expect(cancelled.status).toBe(200);
  });
});
