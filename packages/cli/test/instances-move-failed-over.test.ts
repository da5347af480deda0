import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { runCapflow } from "./support/run-capflow.ts";

const fixtures = "packages/cli/test/fixtures/routing";

/**
 * `capflow instances move` and `retry` of an instance that failed over print the refusal and
 * change nothing. North declines a loan above 3000 and the business fails over to south.
 */
describe.skipIf(!databaseUrl)(
  databaseUrl ? "capflow instances move of an instance that failed over" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

    beforeAll(async () => {
      db = await openTestPostgres();
      const pushed = await runCapflow("push", fixtures, ...database());
      expect(pushed.stderr).toBe("");
    }, 60_000);
    afterAll(async () => {
      await db?.drop();
    });

    test("the move and the retry are refused, naming the instance the business went on at", async () => {
      const input = JSON.stringify({ amount: "5000.00", termMonths: 12 });
      const started = await runCapflow(
        "instances",
        ...["start", "--product", "cash-loan", "--key", "F1", "--input", input, "--json"],
        ...database(),
      );
      const first = JSON.parse(started.stdout) as { id: string; channel: string };
      expect(first.channel).toBe("north");
      const worker = await runCapflow("worker", ...database(), "--exit-when-idle");
      expect(worker.exitCode).toBe(0);
      const listed = await runCapflow(
        "instances",
        ...["list", "--product", "cash-loan", "--business-key", "F1", "--json"],
        ...database(),
      );
      const chain = listed.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line) as { id: string; channel: string; status: string });
      const next = chain.find((i) => i.channel === "south")!;
      expect(next.status).toBe("succeeded");
      const before = await runCapflow("instances", "show", first.id, ...database(), "--json");

      const actor = ["--who", "ops", "--why", "north says it would approve now"];
      const moved = await runCapflow(
        "instances",
        ...["move", first.id, "assess", ...actor],
        ...database(),
      );
      expect(moved.exitCode).toBe(1);
      expect(moved.stdout).toBe("");
      expect(moved.stderr).toContain("INSTANCE_FAILED_OVER");
      expect(moved.stderr).toContain(
        `instance ${first.id} failed over to ${next.id}: its business goes on there, and a move would run this one again beside it; act on ${next.id} instead`,
      );
      const retried = await runCapflow("instances", "retry", first.id, ...actor, ...database());
      expect(retried.exitCode).toBe(1);
      expect(retried.stderr).toContain(`act on ${next.id} instead`);
      const after = await runCapflow("instances", "show", first.id, ...database(), "--json");
      expect(after.stdout).toBe(before.stdout);
    }, 120_000);
  },
);
