import { connect, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { type CapflowDatabase, openPostgresStore } from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer } from "../src/index.ts";
import { closedPort } from "./support/closed-port.ts";
import { databaseUrl } from "./support/test-server.ts";

const redisUrl = process.env.REDIS_URL;

/** A TCP relay to Redis that can be taken away, leaving the relay's address unreachable. */
async function startRelay(target: URL): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const relay: Server = createTcpServer((inbound) => {
    const outbound = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address();
  if (address === null || typeof address === "string") throw new Error("relay not on TCP");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        relay.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/**
 * A server whose Redis and database cannot be reached answers 503 without their host or port: the
 * log has them, the answer says what to do.
 */
describe.skipIf(!databaseUrl || !redisUrl)("503 answers name no infrastructure", () => {
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let redis: CapflowRedis;
  let awayDb: CapflowDatabase;
  let awayPort: number;
  let app: FastifyInstance;
  let url: string;
  const lines: string[] = [];

  beforeAll(async () => {
    relay = await startRelay(new URL(redisUrl!));
    redis = await openRedis({ url: `redis://127.0.0.1:${relay.port}`, keyPrefix: "capflow-503:" });
    awayPort = await closedPort();
    awayDb = openPostgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${awayPort}/test`,
      pool: { max: 1 },
    });
    const engine = createEngine({
      store: awayDb.instances,
      definitions: awayDb.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    app = createServer({
      engine,
      readiness: {
        database: () => awayDb.knex.raw("select 1"),
        redis: () => redis.client.ping(),
      },
      log: { level: "info", stream: { write: (line: string) => lines.push(line) } },
    });
    // A route of the host service, taking a lock as `@withLock` does.
    app.post("/host/transfer", async () => {
      const lock = await redis.locks.acquire("transfer:T1", { ttlMs: 1_000 });
      await lock.release();
      return { ok: true };
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("not listening on TCP");
    url = `http://127.0.0.1:${address.port}`;
    expect((await fetch(`${url}/host/transfer`, { method: "POST" })).status).toBe(200);
    await relay.close();
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
    await awayDb?.close();
    await relay?.close();
  });

  test("a lock error is answered 503 LOCK_UNAVAILABLE with a message that says to ask again, not where Redis is", async () => {
    const answer = await fetch(`${url}/host/transfer`, { method: "POST" });
    expect(answer.status).toBe(503);
    const text = await answer.text();
    const body = JSON.parse(text);
    expect(body).toEqual({
      error: {
        code: "LOCK_UNAVAILABLE",
        retryable: true,
        message:
          "the server's lock service did not answer this time; ask again shortly; the server's operators find the cause in its log",
        requestId: expect.any(String),
      },
    });
    expect(text).not.toContain(String(relay.port));
    expect(text).not.toContain("Redis");
    const logged = lines.filter(
      (line) => line.includes('"level":50') && line.includes(`"reqId":"${body.error.requestId}"`),
    );
    expect(logged.some((line) => line.includes("Redis failed for locks"))).toBe(true);
  });

  test("/readyz says which dependency fails and how, without its host or port; the log has them", async () => {
    const answer = await fetch(`${url}/readyz`);
    expect(answer.status).toBe(503);
    const text = await answer.text();
    const body = JSON.parse(text) as { checks: Record<string, { ok: boolean; reason: string }> };
    expect(body.checks.database).toEqual({
      ok: false,
      reason: "failed (ECONNREFUSED); the server's log has the cause",
    });
    expect(body.checks.redis).toMatchObject({ ok: false });
    expect(body.checks.redis!.reason).toMatch(/^failed.*; the server's log has the cause$/);
    expect(text).not.toContain(String(awayPort));
    expect(text).not.toContain(String(relay.port));
    expect(text).not.toContain("127.0.0.1");
    const warned = lines.filter((line) => line.includes("readiness check database failed"));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`127.0.0.1:${awayPort}`);

    // Asked again (a load balancer's probe every few seconds), the same failure is not logged again.
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect(lines.filter((line) => line.includes("readiness check database failed"))).toHaveLength(
      1,
    );
  });
});
