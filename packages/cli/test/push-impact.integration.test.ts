import { randomBytes } from "node:crypto";
import {
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCapflow } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;
const fixtures = "packages/cli/test/fixtures/lifecycle";

/**
 * What running instances need survives a push: a channel pushed without the callback and the
 * interface that waiting instances of an older pinned version still use, or with a key that does
 * not resolve, is refused with the instances it would break; `--force` pushes it and records who
 * forced it, when, and what it broke.
 */
describe.skipIf(!databaseUrl)(
  "capflow push checks what running instances need (PostgreSQL)",
  () => {
    const schema = `capflow_cli_push_${randomBytes(4).toString("hex")}`;
    const db = ["--database-url", databaseUrl ?? "", "--schema", schema];
    let store: CapflowDatabase;
    let engine: Engine;
    let waiting: string[];

    beforeAll(async () => {
      const first = await runCapflow("push", `${fixtures}/v1`, ...db);
      expect(first.stderr).toBe("");
      expect(first.exitCode).toBe(0);
      store = openPostgresStore({ connectionString: databaseUrl ?? "", schema });
      engine = createEngine({
        store: store.instances,
        definitions: store.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      waiting = [];
      for (const orderNo of ["O-1", "O-2", "O-3"]) {
        const started = await engine.start({
          channel: "shop",
          behavior: "order",
          businessKey: orderNo,
          input: { orderNo },
        });
        waiting.push(started.id);
      }
    }, 120_000);

    afterAll(async () => {
      await engine?.close();
      await store?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await store?.close();
    });

    test("a channel without the callback and interface that waiting instances need is refused", async () => {
      const run = await runCapflow("push", `${fixtures}/v2-polling`, ...db);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain(
        'shop: callback "order.result" is removed, but 3 instances of shop/order version 1 still need it',
      );
      expect(run.stdout).toContain(
        'shop: interface "order.query" is removed, but 3 instances of shop/order version 1 still need it',
      );
      expect(run.stdout).toContain("at step wait: 3");
      for (const id of waiting) expect(run.stdout).toContain(id);
      expect(run.stderr).toContain("nothing pushed");
      // Nothing changed: the waiting instances' notifications are still taken.
      const ack = await engine.receiveCallback("shop", "order.result", {
        method: "POST",
        path: "/callbacks/shop/order.result",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ orderNo: "O-1", notifyId: "N-1" }),
      });
      expect(ack.accepted).toBe(true);
    }, 60_000);

    test("a channel whose key reference does not resolve is refused", async () => {
      const run = await runCapflow("push", `${fixtures}/missing-key`, ...db);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain("[secret-unresolved]");
      expect(run.stdout).toContain("file:keys/shop-hmac.key");
      expect(run.stderr).toContain("nothing pushed");
    }, 60_000);

    test("--force pushes the breaking change and records who forced it, when and what it broke", async () => {
      const refused = await runCapflow("push", `${fixtures}/v2-polling`, ...db, "--force");
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain("--who");

      const forced = await runCapflow(
        "push",
        `${fixtures}/v2-polling`,
        ...db,
        "--force",
        "--who",
        "alice",
        "--why",
        "the shop switched off its callbacks today",
      );
      expect(forced.stderr).toBe("");
      expect(forced.exitCode).toBe(0);
      // What is printed is what is recorded.
      expect(forced.stdout).toContain("forced past 2 breaking changes by cli:alice:");
      expect(forced.stdout).toContain("behavior shop/order: changed, now version 2");

      const { rows } = (await store.knex.raw(
        `SELECT who, why, forced, pushed_at, impact FROM "${schema}".definition_pushes ORDER BY pushed_at`,
      )) as {
        rows: { who: string; why: string; forced: boolean; pushed_at: Date; impact: unknown }[];
      };
      const last = rows.at(-1)!;
      expect(last).toMatchObject({
        who: "cli:alice",
        why: "the shop switched off its callbacks today",
      });
      expect(last.forced).toBe(true);
      expect(Date.now() - last.pushed_at.getTime()).toBeLessThan(600_000);
      expect(JSON.stringify(last.impact)).toContain("order.result");
    }, 60_000);
  },
);
