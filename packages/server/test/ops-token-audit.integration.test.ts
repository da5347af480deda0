import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)(
  "operator tokens keep who made and revoked them, when and why",
  () => {
    let server: TestServer;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    let ops: ReturnType<typeof opsClient>;
    const logLines: string[] = [];

    beforeAll(async () => {
      server = await startTestServer({
        log: { level: "info", stream: { write: (line: string) => logLines.push(line) } },
      });
      tokens = await tokensByRole(server.db);
      ops = opsClient(server.url);
    });
    afterAll(async () => {
      await server?.close();
    });

    const listed = async () => (await ops("GET", "/tokens", { token: tokens.admin })).json.items;
    // Who made and revoked each token, not when each was last used (every request notes that).
    const audit = async () =>
      (await listed()).map(({ lastUsedAt: _, ...rest }: { lastUsedAt: unknown }) => rest);

    test("an admin makes and revokes a token with reasons: the listing shows both, with names and times", async () => {
      const made = await ops("POST", "/tokens", {
        token: tokens.admin,
        body: {
          name: "ci-deploy",
          role: "operator",
          reason: "deploy pipeline for the Lanbank launch",
        },
      });
      expect(made.status).toBe(201);
      expect(made.json).toMatchObject({
        name: "ci-deploy",
        createdBy: "test-admin",
        createdReason: "deploy pipeline for the Lanbank launch",
        revokedReason: null,
      });
      const revoked = await ops("POST", `/tokens/${made.json.id}/revoke`, {
        token: tokens.admin,
        body: { reason: "pipeline moved to SSO" },
      });
      expect(revoked.status).toBe(200);
      expect(revoked.json.token).toMatchObject({
        revokedBy: "test-admin",
        revokedReason: "pipeline moved to SSO",
        lastUsedAt: null,
      });

      // Revoking it again changes nothing: the first revocation and its reason stay.
      const again = await ops("POST", "/tokens/ci-deploy/revoke", {
        token: tokens.admin,
        body: { reason: "by name this time" },
      });
      expect(again.status).toBe(404);
      const repeated = await ops("POST", `/tokens/${made.json.id}/revoke`, {
        token: tokens.admin,
        body: { reason: "once more" },
      });
      expect(repeated.json.token.revokedReason).toBe("pipeline moved to SSO");

      const item = (await listed()).find((t: { id: string }) => t.id === made.json.id);
      expect(item).toEqual({
        id: made.json.id,
        name: "ci-deploy",
        role: "operator",
        createdAt: made.json.createdAt,
        createdBy: "test-admin",
        createdReason: "deploy pipeline for the Lanbank launch",
        revokedAt: revoked.json.token.revokedAt,
        revokedBy: "test-admin",
        revokedReason: "pipeline moved to SSO",
        lastUsedAt: null,
      });
      // The token itself is in no listing and no log line; the reasons are.
      expect(JSON.stringify(await listed())).not.toContain(made.json.token);
      expect(logLines.join("")).not.toContain(made.json.token);
      expect(logLines.join("")).toContain("pipeline moved to SSO");
    });

    test("no reason, a blank, an oversized or malformed one, or one holding a token: 400, nothing stored", async () => {
      const before = await audit();
      const target = before.find((t: { name: string }) => t.name === "test-viewer");
      for (const body of [
        { name: "no-reason", role: "viewer" },
        { name: "blank", role: "viewer", reason: "   " },
        { name: "long", role: "viewer", reason: "x".repeat(501) },
        { name: "number", role: "viewer", reason: 42 },
        { name: "leaky", role: "viewer", reason: `replaces ${tokens.viewer}` },
        { name: "bare", role: "viewer", reason: `replaces ${tokens.viewer.slice(4)}` },
        { name: "upper", role: "viewer", reason: `replaces ${tokens.viewer.toUpperCase()}` },
        { name: "split", role: "viewer", reason: `replaces cfo\u200b${tokens.viewer.slice(3)}` },
        { name: "newline", role: "viewer", reason: "rotation\ntok_x  admin  forged row" },
        { name: "escape", role: "viewer", reason: "rotation \u001b[8mhidden" },
        { name: "del", role: "viewer", reason: "rotation \u007f" },
      ]) {
        const answer = await ops("POST", "/tokens", { token: tokens.admin, body });
        expect(answer.status, body.name).toBe(400);
        expect(answer.json.error.code).toBe("REQUEST_INVALID");
        expect(answer.json.error.message).toMatch(/reason/);
      }
      for (const body of [
        {},
        { reason: "  " },
        { reason: "x".repeat(501) },
        { reason: ["leaked"] },
        { reason: `leaked: ${tokens.viewer}` },
        { reason: `leaked: ${tokens.viewer.slice(4)}` },
        { reason: "left\r\nthe team" },
        { reason: "left \u009b the team" },
        { reason: "fine", extra: true },
      ]) {
        const answer = await ops("POST", `/tokens/${target.id}/revoke`, {
          token: tokens.admin,
          body,
        });
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(answer.json.error.code).toBe("REQUEST_INVALID");
      }
      const malformed = await ops("POST", `/tokens/${target.id}/revoke`, {
        token: tokens.admin,
        body: '{"reason": "broken',
      });
      expect(malformed.status).toBe(400);
      const oversized = await ops("POST", "/tokens", {
        token: tokens.admin,
        body: { name: "huge", role: "viewer", reason: "y".repeat(2_000_000) },
      });
      expect(oversized.status).toBe(413);
      expect(await audit()).toEqual(before);
      expect(logLines.join("")).not.toContain(tokens.viewer);
    });

    test("viewers and operators neither make nor revoke tokens, reason or not", async () => {
      const before = await audit();
      const target = before.find((t: { name: string }) => t.name === "test-viewer");
      for (const token of [tokens.viewer, tokens.operator]) {
        const made = await ops("POST", "/tokens", {
          token,
          body: { name: "mine", role: "admin", reason: "I need more rights" },
        });
        expect(made.status).toBe(403);
        const revoked = await ops("POST", `/tokens/${target.id}/revoke`, {
          token,
          body: { reason: "locking the admins out" },
        });
        expect(revoked.status).toBe(403);
        expect((await ops("GET", "/tokens", { token })).status).toBe(403);
      }
      expect(await audit()).toEqual(before);
    });
  },
);
