import type { CapflowDatabase } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openTestPglite,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { type OurSide, ReconcileStore, type StatementLine } from "../src/index.ts";

const begin = (store: ReconcileStore, now: Date) =>
  store.beginRun({
    channel: "lanbank",
    statement: "loan-daily",
    businessDate: "2026-12-05",
    fileDigest: "f".repeat(64),
    definitionDigest: "d".repeat(64),
    fileName: "loan.csv",
    fileBytes: 10,
    now,
    staleAfterMs: 30 * 60_000,
  });

const line = (lineNo: number, businessKey: string): StatementLine => ({
  lineNo,
  businessKey,
  amountMinor: 100n,
});

const result = (now: Date) => ({
  lineCount: 1,
  counts: {
    matched: 0,
    "missing-ours": 1,
    "missing-funder": 0,
    "amount-mismatch": 0,
    "status-mismatch": 0,
    "other-day": 0,
    "ambiguous-line": 0,
    "duplicate-line": 0,
    "malformed-line": 0,
    "totals-mismatch": 0,
  },
  totals: { declared: {}, lines: { count: 1, amount: "100" } },
  now,
});

for (const kind of ["PostgreSQL", "PGlite"] as const) {
  describe.skipIf(kind === "PostgreSQL" && !process.env.DATABASE_URL)(
    `a stale run taken over on ${kind}`,
    () => {
      let db: CapflowDatabase & { drop?: () => Promise<void> };
      beforeAll(async () => {
        if (kind === "PostgreSQL" && !process.env.DATABASE_URL) console.warn(skipMessage);
        db = kind === "PostgreSQL" ? await openTestPostgres() : await openTestPglite();
      });
      afterAll(async () => {
        await (db.drop ? db.drop() : db.close());
      });

      it("fences the first generation off: its lines, differences, finish and failure are refused", async () => {
        const store = new ReconcileStore(db);
        const first = await begin(store, new Date("2026-12-06T03:00:00Z"));
        expect(first.run).toMatchObject({ state: "running", generation: 1 });
        await store.addLines(first.run, [line(1, "L001")]);
        // Still running within its stale time: not taken over.
        await expect(begin(store, new Date("2026-12-06T03:10:00Z"))).rejects.toMatchObject({
          code: "RECONCILE_BUSY",
        });
        const second = await begin(store, new Date("2026-12-06T03:31:00Z"));
        expect(second.run).toMatchObject({ id: first.run.id, state: "running", generation: 2 });
        await store.addLines(second.run, [line(1, "L002")]);

        const takenOver = { code: "RECONCILE_TAKEN_OVER", retryable: false };
        await expect(store.addLines(first.run, [line(2, "L003")])).rejects.toMatchObject(takenOver);
        await expect(
          store.addTotalsDifference(first.run, { count: 9 }, { count: 1 }),
        ).rejects.toMatchObject(takenOver);
        await expect(
          store.failRun(first.run, { code: "INTERNAL", message: "x" }, new Date()),
        ).rejects.toMatchObject(takenOver);
        await expect(
          store.match(first.run, {
            channel: "lanbank",
            behaviors: ["loan"],
            amountPath: "input.amount",
            amountUnit: "yuan",
            dateColumn: "updated_at",
            expectStatuses: ["succeeded"],
            from: new Date("2026-12-04T16:00:00Z"),
            to: new Date("2026-12-05T16:00:00Z"),
          } as OurSide),
        ).rejects.toMatchObject(takenOver);
        await expect(
          store.completeRun(first.run, result(new Date("2026-12-06T03:40:00Z"))),
        ).rejects.toMatchObject(takenOver);

        // The second generation's lines survived the first's failure, and it finishes.
        const staged = await db.knex.raw(
          `SELECT business_key FROM "${db.schema}".reconcile_lines WHERE run_id = ? ORDER BY line_no`,
          [first.run.id],
        );
        expect(staged.rows).toEqual([{ business_key: "L002" }]);
        const done = await store.completeRun(second.run, result(new Date("2026-12-06T03:45:00Z")));
        expect(done).toMatchObject({ state: "completed", generation: 2 });
        // A finished run refuses its own generation's late writes too.
        await expect(store.addLines(second.run, [line(3, "L004")])).rejects.toMatchObject(
          takenOver,
        );
      });
    },
  );
}
