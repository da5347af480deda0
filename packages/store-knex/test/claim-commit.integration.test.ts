import { createEngine, ProcessorRegistry } from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CapflowDatabase, pushDefinitions } from "../src/index.ts";
import { databaseUrl, openTestPostgres } from "./support/databases.ts";
import { checkBehavior as behavior, shopChannel as channel } from "./support/decide-definitions.ts";

/**
 * Claims and give-backs commit without waiting for their flush (`synchronous_commit` off for
 * their own transaction). The setting must never outlive that transaction: the pooled connection
 * runs compare-and-set commits next, and those wait for theirs.
 */
describe.skipIf(!databaseUrl)("claims on PostgreSQL: asynchronous commit, theirs alone", () => {
  let db: CapflowDatabase & { drop(): Promise<void> };
  beforeAll(async () => {
    // One connection: whatever a claim leaves behind, the next statement sees.
    db = await openTestPostgres({ pool: { min: 1, max: 1 } });
    await pushDefinitions(db, { channels: [channel], behaviors: [behavior] });
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function synchronousCommit(): Promise<string> {
    const { rows } = (await db.knex.raw("SHOW synchronous_commit")) as {
      rows: { synchronous_commit: string }[];
    };
    return rows[0]?.synchronous_commit ?? "";
  }

  test("a claim and a give-back leave the connection's commits synchronous", async () => {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
    });
    try {
      expect(await synchronousCommit()).toBe("on");
      const { id } = await engine.start({
        channel: "shop",
        behavior: "check",
        businessKey: "A1",
        input: { amount: 5 },
      });
      const claim = { owner: "w1", now: Date.now() + 1_000, leaseMs: 30_000, limit: 4 };
      const claimed = await db.instances.claimDue(claim);
      expect(claimed.map((record) => [record.id, record.leaseOwner])).toEqual([[id, "w1"]]);
      expect(await synchronousCommit()).toBe("on");

      await db.instances.releaseLease(id, "w1");
      expect(await synchronousCommit()).toBe("on");
      expect((await db.instances.getInstance(id))?.leaseOwner).toBeNull();
      // Given back, it is claimable again at once.
      expect((await db.instances.claimDue({ ...claim, owner: "w2" })).map((r) => r.id)).toEqual([
        id,
      ]);
    } finally {
      await engine.close();
    }
  });
});
