import { CapflowError, type InstanceStore } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API: query values checked at the door (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  const where = new URL(databaseUrl ?? "postgres://localhost");

  beforeAll(async () => {
    server = await startTestServer();
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
  });
  afterAll(async () => {
    await server?.close();
  });

  test("durations past ten years, versions past an integer and NUL characters are 400s", async () => {
    for (const path of [
      "/overview?stuckAfter=999999999999999999999d",
      "/instances?idleFor=999999999999999999999d",
      "/instances?olderThan=99999999999d",
      "/inbox?olderThan=999999999999999999999d",
      "/instances?version=99999999999999999999",
      "/instances?version=2147483648",
      "/instances?businessKey=a%00b",
      "/instances?channel=%00",
      "/instances/a%00b",
      "/instances/a%00b/inbox",
      "/notifications?instanceId=a%00b",
    ]) {
      const answer = await ops("GET", path, { token: tokens.viewer });
      expect(answer.status, path).toBe(400);
      expect(answer.json.error.code, path).toBe("REQUEST_INVALID");
      expect(JSON.stringify(answer.json), path).not.toContain(where.host);
    }
    const started = await ops("POST", "/instances", {
      token: tokens.operator,
      body: {
        channel: "shop",
        behavior: "order",
        businessKey: "K\u0000-1",
        input: {},
        reason: "a start by hand",
      },
    });
    expect(started.status).toBe(400);
    expect(started.json.error.code).toBe("REQUEST_INVALID");
    expect((await ops("GET", "/instances?olderThan=3650d", { token: tokens.viewer })).status).toBe(
      200,
    );
  });

  test("the engine refuses a business key with a NUL character, typed", async () => {
    await expect(
      server.engine.start({
        channel: "shop",
        behavior: "order",
        businessKey: "K\u0000-2",
        input: {},
      }),
    ).rejects.toMatchObject({ code: "INSTANCE_INPUT_INVALID" });
  });

  test("a store failure answered 500 does not name the database", async () => {
    const failing = new Proxy(server.db.instances, {
      get(target, property, receiver) {
        if (property === "getInstance") {
          return async () => {
            throw new CapflowError(
              "STORE_FAILED",
              `${where.host}${where.pathname} rejected a statement (SQLSTATE 22021); see the cause`,
            );
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as InstanceStore;
    const broken = await startTestServer({ store: failing });
    try {
      const answer = await opsClient(broken.url)("GET", "/instances/some-id", {
        token: (await tokensByRole(broken.db)).viewer,
      });
      expect(answer.status).toBe(500);
      expect(answer.json.error.code).toBe("STORE_FAILED");
      expect(answer.json.error.message).not.toContain(where.host);
      expect(answer.json.error.message).toContain("log");
    } finally {
      await broken.close();
    }
  });
});
