import type { MigrationOptions, MigrationReport, MigrationRequest } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

const dryRun = {
  channel: "shop",
  behavior: "order",
  from: 1,
  to: 2,
  dryRun: true,
  reason: "what would a move to v2 do",
};

function reportFor(request: MigrationRequest, interrupted: boolean): MigrationReport {
  const { channel, behavior, from, to } = request;
  const dry = request.dryRun === true;
  return {
    channel,
    behavior,
    from,
    to,
    dryRun: dry,
    moved: 0,
    refused: 0,
    moves: [],
    refusals: [],
    interrupted,
  };
}

describe.skipIf(!databaseUrl)("operator API: migrations are bounded (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  /** What the route handed the engine, per call: the signal that stops the run. */
  let signals: AbortSignal[];
  /** Replaces the engine's migration for one test: the route is under test, not the engine. */
  let migrate: (request: MigrationRequest, signal: AbortSignal) => Promise<MigrationReport>;

  beforeAll(async () => {
    server = await startTestServer({ limits: { migrationTimeMs: 400 } });
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    server.engine.migrateInstances = async (request, _actor, options?: MigrationOptions) => {
      const signal = options?.signal;
      if (signal === undefined) throw new Error("the route must pass a signal");
      signals.push(signal);
      return migrate(request, signal);
    };
  });
  afterAll(async () => {
    await server?.close();
  });

  const aborted = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });

  test("one migration at a time per server: another gets 429 MIGRATION_BUSY and nothing runs", async () => {
    signals = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    migrate = async (request) => {
      entered();
      await held;
      return reportFor(request, false);
    };
    const first = ops("POST", "/migrations", { token: tokens.viewer, body: dryRun });
    await inside;
    const second = await ops("POST", "/migrations", { token: tokens.operator, body: dryRun });
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe("MIGRATION_BUSY");
    expect(signals).toHaveLength(1);
    release();
    expect((await first).status).toBe(200);
    const third = await ops("POST", "/migrations", { token: tokens.viewer, body: dryRun });
    expect(third.status).toBe(200);
    expect(signals).toHaveLength(2);
  });

  test("a migration stops at the server's migrationTimeMs and answers interrupted", async () => {
    signals = [];
    migrate = async (request, signal) => {
      await aborted(signal);
      return reportFor(request, true);
    };
    const answer = await ops("POST", "/migrations", { token: tokens.viewer, body: dryRun });
    expect(answer.status).toBe(200);
    expect(answer.json.report.interrupted).toBe(true);
  });

  test("a client that goes away stops its migration", async () => {
    // A server with the default 45 s limit: only the client's leaving can stop the run in time.
    const patient = await startTestServer();
    try {
      const viewer = (await tokensByRole(patient.db)).viewer;
      let entered = (_signal: AbortSignal) => {};
      const inside = new Promise<AbortSignal>((resolve) => {
        entered = resolve;
      });
      patient.engine.migrateInstances = async (request, _actor, options?: MigrationOptions) => {
        const signal = options?.signal;
        if (signal === undefined) throw new Error("the route must pass a signal");
        entered(signal);
        await aborted(signal);
        return reportFor(request, true);
      };
      const client = new AbortController();
      const request = fetch(`${patient.url}/v1/ops/migrations`, {
        method: "POST",
        headers: { authorization: `Bearer ${viewer}`, "content-type": "application/json" },
        body: JSON.stringify(dryRun),
        signal: client.signal,
      }).catch((error: unknown) => error);
      const signal = await inside;
      expect(signal.aborted).toBe(false);
      client.abort();
      await request;
      await aborted(signal);
      expect(signal.aborted).toBe(true);
    } finally {
      await patient.close();
    }
  });
});
