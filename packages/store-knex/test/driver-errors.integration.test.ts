import { isCapflowError } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { openPostgresStore } from "../src/index.ts";
import { translateStoreError } from "../src/translate-error.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

/** The translation table (translate-error.test.ts) checked against errors the drivers really raise. */
describe("real driver errors are translated", () => {
  test("PostgreSQL not listening: retryable STORE_UNAVAILABLE naming host and port, not the password", async () => {
    const db = openPostgresStore({
      connectionString: "postgres://capflow:hunter2@127.0.0.1:1/loans",
    });
    // knex would print the driver's stack trace before the error reaches the caller: it does not.
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const error = await db.migrate().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCapflowError(error, "STORE_UNAVAILABLE")).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      expect((error as Error).message).toContain("127.0.0.1:1");
      expect(JSON.stringify(error)).not.toContain("hunter2");
      expect((error as Error).message).not.toContain("hunter2");
      expect(warnings).not.toHaveBeenCalled();
    } finally {
      warnings.mockRestore();
      await db.close();
    }
  });

  describe.skipIf(!databaseUrl)(databaseUrl ? "on PostgreSQL" : skipMessage, () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });

    test("statement_timeout: retryable STORE_TIMEOUT", async () => {
      const slow = openPostgresStore({
        connectionString: databaseUrl!,
        schema: db.schema,
        statementTimeoutMs: 50,
      });
      try {
        const error = await slow.knex.raw("SELECT pg_sleep(1)").then(
          () => undefined,
          (e: unknown) => translateStoreError(e),
        );
        expect(error).toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
      } finally {
        await slow.close();
      }
    });

    test("pool exhausted: retryable STORE_UNAVAILABLE from the store", async () => {
      const small = openPostgresStore({
        connectionString: databaseUrl!,
        schema: db.schema,
        pool: { max: 1 },
        acquireTimeoutMs: 100,
        log: { warn: () => {} },
      });
      const held = await small.knex.transaction();
      try {
        const error = await small.instances.getInstance("x").then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ code: "STORE_UNAVAILABLE", retryable: true });
        expect((error as Error).message).toContain("pool is exhausted");
      } finally {
        await held.rollback();
        await small.close();
      }
    });

    test("tables missing: STORE_FAILED telling to run migrate", async () => {
      const empty = openPostgresStore({
        connectionString: databaseUrl!,
        schema: "capflow_never_migrated",
      });
      try {
        const error = await empty.instances.getInstance("x").then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ code: "STORE_FAILED", retryable: false });
        expect((error as Error).message).toContain("capflow migrate");
      } finally {
        await empty.close();
      }
    });

    test("a unique violation the store does not absorb: STORE_UNIQUE_VIOLATION", async () => {
      const base = {
        channel: "lanbank",
        behavior: "loan",
        behaviorVersion: 1,
        inputDigest: "d",
        input: {},
        step: "apply",
        status: "active" as const,
        context: {},
        snapshot: null,
        nextRunAt: null,
        now: 0,
      };
      await db.instances.createInstance({ ...base, id: "same-id", businessKey: "A" });
      const error = await db.instances
        .createInstance({ ...base, id: "same-id", businessKey: "B" })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({
        code: "STORE_UNIQUE_VIOLATION",
        retryable: false,
        context: { constraint: "instances_pkey" },
      });
    });
  });
});
