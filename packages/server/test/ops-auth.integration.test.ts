import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { trustedHeaderAuth } from "../src/index.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API authentication and roles (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  let instanceId: string;

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    instanceId = (
      await server.engine.start({
        channel: "shop",
        behavior: "order",
        businessKey: "A-1",
        input: { mobile: "13800138000" },
      })
    ).id;
  });
  afterAll(async () => {
    await server?.close();
  });

  const unchanged = async () => {
    const instance = await server.engine.getInstance(instanceId);
    expect(instance).toMatchObject({ version: 1, status: "waiting", step: "wait" });
    expect(await server.engine.history(instanceId)).toHaveLength(0);
  };

  test("no token, a malformed one, a forged one: 401 with one message, nothing changed", async () => {
    const body = { reason: "try it", expectedVersion: 1 };
    for (const authorization of [
      undefined,
      "Basic dXNlcjpwYXNz",
      "Bearer",
      "Bearer not-a-capflow-token",
      `Bearer cfo_${"A".repeat(43)}`,
      `Bearer ${tokens.admin}x`,
    ]) {
      const answer = await ops("POST", `/instances/${instanceId}/cancel`, {
        body,
        headers: authorization ? { authorization } : {},
      });
      expect(answer.status, authorization).toBe(401);
      expect(answer.json.error.code).toBe("AUTH_REQUIRED");
      expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="capflow"');
    }
    await unchanged();
  });

  test("a revoked token stops working at once", async () => {
    const made = await ops("POST", "/tokens", {
      token: tokens.admin,
      body: { name: "short-lived", role: "operator", reason: "a script run once" },
    });
    expect(made.status).toBe(201);
    expect(made.json.token).toMatch(/^cfo_[A-Za-z0-9_-]{43}$/);
    expect((await ops("GET", "/whoami", { token: made.json.token })).json).toEqual({
      operator: { name: "short-lived", role: "operator", via: "token" },
    });
    const revoked = await ops("POST", `/tokens/${made.json.id}/revoke`, {
      token: tokens.admin,
      body: { reason: "leaked in a chat" },
    });
    expect(revoked.status).toBe(200);
    expect(revoked.json.token).toMatchObject({ name: "short-lived", revokedBy: "test-admin" });
    const after = await ops("POST", `/instances/${instanceId}/cancel`, {
      token: made.json.token,
      body: { reason: "try it", expectedVersion: 1 },
    });
    expect(after.status).toBe(401);
    await unchanged();
  });

  test("viewers read, and are refused every action with 403, nothing changed", async () => {
    expect((await ops("GET", "/instances", { token: tokens.viewer })).status).toBe(200);
    expect((await ops("GET", `/instances/${instanceId}`, { token: tokens.viewer })).status).toBe(
      200,
    );
    for (const [path, body] of [
      [`/instances/${instanceId}/retry`, { reason: "try it", expectedVersion: 1 }],
      [`/instances/${instanceId}/cancel`, { reason: "try it", expectedVersion: 1 }],
      [`/instances/${instanceId}/move`, { step: "paid", reason: "try it", expectedVersion: 1 }],
      ["/migrations", { channel: "shop", behavior: "order", from: 1, to: 2, reason: "try it" }],
      ["/tokens", { name: "mine", role: "admin", reason: "try it" }],
    ] as const) {
      const answer = await ops("POST", path, { token: tokens.viewer, body });
      expect(answer.status, path).toBe(403);
      expect(answer.json.error.code).toBe("AUTH_FORBIDDEN");
    }
    await unchanged();
  });

  test("operators act but do not manage tokens; admins do", async () => {
    expect((await ops("GET", "/tokens", { token: tokens.operator })).status).toBe(403);
    const made = await ops("POST", "/tokens", {
      token: tokens.operator,
      body: { name: "escalate", role: "admin", reason: "try it" },
    });
    expect(made.status).toBe(403);
    const listed = await ops("GET", "/tokens", { token: tokens.admin });
    expect(listed.status).toBe(200);
    expect(listed.json.items.map((t: { name: string }) => t.name)).not.toContain("escalate");
    // No token, digest or secret in a listing.
    expect(JSON.stringify(listed.json)).not.toMatch(/cfo_|hash/i);
  });

  test("a token name taken by an unrevoked token is refused; bad names and roles too", async () => {
    const again = await ops("POST", "/tokens", {
      token: tokens.admin,
      body: { name: "test-viewer", role: "viewer", reason: "a second viewer" },
    });
    expect(again.status).toBe(409);
    for (const body of [
      { name: "has space", role: "viewer", reason: "for a test" },
      { name: "ok", role: "root", reason: "for a test" },
      { name: "ok", reason: "for a test" },
      { name: "ok", role: "viewer", reason: "for a test", extra: true },
    ]) {
      const answer = await ops("POST", "/tokens", { token: tokens.admin, body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error.code).toBe("REQUEST_INVALID");
    }
  });

  test("trusted headers count only from the configured proxies", async () => {
    const proxied = await startTestServer({
      operators: {
        tokens: server.db.operatorTokens,
        authenticate: trustedHeaderAuth({ proxies: ["127.0.0.1/32"] }),
      },
    });
    const elsewhere = await startTestServer({
      operators: {
        tokens: server.db.operatorTokens,
        authenticate: trustedHeaderAuth({ proxies: ["10.0.0.0/8"] }),
      },
    });
    try {
      const sso = { "x-forwarded-user": "alice@example.com", "x-forwarded-role": "operator" };
      expect((await opsClient(proxied.url)("GET", "/whoami", { headers: sso })).json).toEqual({
        operator: { name: "alice@example.com", role: "operator", via: "host" },
      });
      const badRole = await opsClient(proxied.url)("GET", "/whoami", {
        headers: { ...sso, "x-forwarded-role": "root" },
      });
      expect(badRole.status).toBe(401);
      // Loopback is not a trusted proxy here: the headers are ignored, a token is needed.
      const ignored = await opsClient(elsewhere.url)("GET", "/whoami", { headers: sso });
      expect(ignored.status).toBe(401);
      const withToken = await opsClient(elsewhere.url)("GET", "/whoami", {
        headers: sso,
        token: tokens.viewer,
      });
      expect(withToken.json.operator).toMatchObject({ name: "test-viewer", via: "token" });
    } finally {
      await proxied.close();
      await elsewhere.close();
    }
  });

  test("with a default role, a role header a signed-in user adds is ignored unless trusted", async () => {
    const defaulted = await startTestServer({
      operators: {
        tokens: server.db.operatorTokens,
        authenticate: trustedHeaderAuth({ proxies: ["127.0.0.1/32"], defaultRole: "viewer" }),
      },
    });
    const trusting = await startTestServer({
      operators: {
        tokens: server.db.operatorTokens,
        authenticate: trustedHeaderAuth({
          proxies: ["127.0.0.1/32"],
          defaultRole: "viewer",
          trustRoleHeader: true,
        }),
      },
    });
    try {
      const forged = { "x-forwarded-user": "mallory@example.com", "X-Forwarded-Role": "admin" };
      const whoami = await opsClient(defaulted.url)("GET", "/whoami", { headers: forged });
      expect(whoami.json).toEqual({
        operator: { name: "mallory@example.com", role: "viewer", via: "host" },
      });
      const tokensList = await opsClient(defaulted.url)("GET", "/tokens", { headers: forged });
      expect(tokensList.status).toBe(403);
      // A proxy that sets the role itself, when told so.
      const trusted = await opsClient(trusting.url)("GET", "/whoami", { headers: forged });
      expect(trusted.json.operator).toMatchObject({ role: "admin" });
      const unset = await opsClient(trusting.url)("GET", "/whoami", {
        headers: { "x-forwarded-user": "bob@example.com" },
      });
      expect(unset.json.operator).toMatchObject({ role: "viewer" });
    } finally {
      await defaulted.close();
      await trusting.close();
    }
  });
});
