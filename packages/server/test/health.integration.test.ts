import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { databaseUrl, startTestServer, type TestServer } from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("health and readiness over HTTP (PostgreSQL)", () => {
  let server: TestServer;
  let redisUp = true;

  beforeAll(async () => {
    server = await startTestServer({
      readiness: {
        database: async () => server.db.knex.raw("select 1"),
        redis: async () => {
          if (!redisUp)
            throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"), {
              code: "ECONNREFUSED",
            });
        },
        slow: () => new Promise((resolve) => setTimeout(resolve, 50)),
      },
      readinessTimeoutMs: 1_000,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  test("/healthz answers while the process runs", async () => {
    const answer = await fetch(`${server.url}/healthz`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: "ok" });
  });

  test("/readyz is 200 when every dependency answers, 503 naming the one that does not (not its address)", async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { database: { ok: true }, redis: { ok: true }, slow: { ok: true } },
    });
    redisUp = false;
    try {
      const down = await fetch(`${server.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({
        status: "unavailable",
        checks: {
          database: { ok: true },
          redis: { ok: false, reason: "failed (ECONNREFUSED); the server's log has the cause" },
          slow: { ok: true },
        },
      });
    } finally {
      redisUp = true;
    }
  });

  test("a check that hangs fails after the timeout", async () => {
    const hanging = await startTestServer({
      readiness: { database: () => new Promise(() => {}) },
      readinessTimeoutMs: 100,
    });
    try {
      const answer = await fetch(`${hanging.url}/readyz`);
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject({
        checks: { database: { ok: false, reason: "no answer within 100 ms" } },
      });
    } finally {
      await hanging.close();
    }
  });

  test("unknown paths get a JSON 404", async () => {
    const answer = await fetch(`${server.url}/nothing/here?token=secret`);
    expect(answer.status).toBe(404);
    expect(await answer.json()).toEqual({
      error: { code: "REQUEST_NOT_FOUND", message: "nothing at GET /nothing/here" },
    });
  });
});
