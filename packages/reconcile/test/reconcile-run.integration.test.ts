import { join } from "node:path";
import type { CapflowDatabase } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openTestPglite,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { ReconcileStore, runReconciliation, type StatementDefinition } from "../src/index.ts";
import { insertInstance } from "./support/instances.ts";
import { statementFolder, writeText } from "./support/statement-files.ts";

const statement: StatementDefinition = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "lanbank-loan-{yyyyMMdd}.csv" },
  encoding: "GBK",
  format: { kind: "delimited", delimiter: "|" },
  header: { lines: 1, totals: { count: 0, amount: 1 } },
  columns: {
    businessKey: "outOrderNo",
    partnerReference: "loanNo",
    amount: "amount",
    status: "status",
  },
  statuses: { 成功: "succeeded", 失败: "failed" },
  ours: { amount: "input.amount", partnerReference: "context.bankLoanNo" },
};

const onDate = "2026-12-05T10:00:00+08:00";

async function plantInstances(db: CapflowDatabase) {
  const loan = (
    key: string,
    amount: string,
    status: string,
    at = onDate,
    ref = `B${key.slice(1)}`,
  ) =>
    insertInstance(db, {
      channel: "lanbank",
      behavior: "loan",
      businessKey: key,
      input: { loanNo: key, amount },
      context: { bankLoanNo: ref },
      status,
      updatedAt: at,
    });
  await loan("L001", "1500.00", "succeeded");
  await loan("L002", "2000.00", "succeeded");
  await loan("L003", "300.00", "failed");
  await loan("L004", "100.00", "succeeded");
  await loan("L005", "70.00", "succeeded", "2026-12-04T23:59:59+08:00");
  await loan("L006", "50.00", "succeeded");
  // Another channel's and another behavior's instances are not this statement's business.
  await insertInstance(db, {
    channel: "meadow",
    behavior: "loan",
    businessKey: "L100",
    input: { amount: "1" },
    context: {},
    status: "succeeded",
    updatedAt: onDate,
  });
}

function file(lines: string[], declared = `${lines.length}|0.00`): string {
  return [declared, "outOrderNo|loanNo|amount|status", ...lines, ""].join("\n");
}

const firstFile = file(
  [
    "L001|B001|1500.00|成功",
    "L002|B002|2000.01|成功",
    "L003|B003|300.00|成功",
    "|B006|50.00|成功",
    "L999|B999|10.00|成功",
    "L001|B001|1500.00|成功",
    "L007|B007|abc|成功",
  ],
  "99|5360.01",
);

for (const kind of ["PostgreSQL", "PGlite"] as const) {
  describe.skipIf(kind === "PostgreSQL" && !process.env.DATABASE_URL)(
    `reconciliation runs on ${kind}`,
    () => {
      let db: CapflowDatabase & { drop?: () => Promise<void> };
      let folder: Awaited<ReturnType<typeof statementFolder>>;
      beforeAll(async () => {
        if (kind === "PostgreSQL" && !process.env.DATABASE_URL) console.warn(skipMessage);
        db = kind === "PostgreSQL" ? await openTestPostgres() : await openTestPglite();
        folder = await statementFolder();
        await plantInstances(db);
      });
      afterAll(async () => {
        await (db.drop ? db.drop() : db.close());
        await folder.remove();
      });

      const run = (text: string, extra: Partial<Parameters<typeof runReconciliation>[0]> = {}) =>
        writeText(join(folder.dir, "lanbank-loan-20261205.csv"), text, "GBK").then(() =>
          runReconciliation({
            db,
            statement,
            businessDate: "2026-12-05",
            baseDir: folder.dir,
            ...extra,
          }),
        );

      it("finds every kind of difference, with both sides", async () => {
        const { run: first, reused } = await run(firstFile);
        expect(reused).toBe(false);
        expect(first).toMatchObject({
          state: "completed",
          lineCount: 7,
          fileName: "lanbank-loan-20261205.csv",
          counts: {
            matched: 2,
            "missing-ours": 1,
            "missing-funder": 1,
            "amount-mismatch": 1,
            "status-mismatch": 1,
            "duplicate-line": 1,
            "malformed-line": 1,
            "totals-mismatch": 1,
          },
          totals: {
            declared: { count: 99, amount: "536001" },
            lines: { count: 7, amount: "536001" },
          },
        });
        const store = new ReconcileStore(db);
        const differences = await store.listDifferences(first.id);
        const byKind = Object.fromEntries(differences.map((d) => [d.kind, d]));
        expect(byKind["amount-mismatch"]).toMatchObject({
          businessKey: "L002",
          funder: { lineNo: 4, amount: "200001", status: "成功", mappedStatus: "succeeded" },
          ours: {
            businessKey: "L002",
            amount: "200000",
            status: "succeeded",
            partnerReference: "B002",
          },
        });
        expect(byKind["status-mismatch"]).toMatchObject({
          businessKey: "L003",
          funder: { mappedStatus: "succeeded" },
          ours: { status: "failed", amount: "30000" },
        });
        expect(byKind["missing-funder"]).toMatchObject({
          businessKey: "L004",
          ours: { amount: "10000" },
        });
        expect(byKind["missing-funder"]!.funder).toBeUndefined();
        expect(byKind["missing-ours"]).toMatchObject({
          businessKey: "L999",
          funder: { lineNo: 7 },
        });
        expect(byKind["missing-ours"]!.ours).toBeUndefined();
        expect(byKind["duplicate-line"]).toMatchObject({ businessKey: "L001", lineNo: 8 });
        expect(byKind["malformed-line"]).toMatchObject({
          lineNo: 9,
          funder: {
            problem:
              "amount (column amount) does not read as an amount in yuan (digits, at most two decimals)",
          },
        });
        expect(byKind["totals-mismatch"]).toMatchObject({
          funder: { declared: { count: 99 } },
          ours: { lines: { count: 7 } },
        });
      });

      it("a re-run of the same file changes nothing and returns the same run", async () => {
        const before = await new ReconcileStore(db).listRuns({ channel: "lanbank" });
        const again = await run(firstFile);
        expect(again.reused).toBe(true);
        expect(again.run.id).toBe(before[0]!.id);
        expect(await new ReconcileStore(db).listRuns({ channel: "lanbank" })).toHaveLength(
          before.length,
        );
        const differences = await new ReconcileStore(db).listDifferences(again.run.id);
        expect(differences).toHaveLength(7);
      });

      it("a later file for the date is compared with the earlier run", async () => {
        const [earlier] = await new ReconcileStore(db).listRuns({ channel: "lanbank" });
        const corrected = file(
          [
            "L001|B001|1500.00|成功",
            "L002|B002|2000.00|成功",
            "L003|B003|300.00|失败",
            "|B006|50.00|成功",
            "L004|B004|100.00|成功",
            "L999|B999|10.00|成功",
          ],
          "6|3960.00",
        );
        const { run: later } = await run(corrected);
        expect(later.comparedWith).toBe(earlier!.id);
        expect(later.counts).toMatchObject({ matched: 5, "missing-ours": 1, "amount-mismatch": 0 });
        expect(later.comparison).toEqual({ new: 0, repeated: 1, gone: 6 });
        const [open] = await new ReconcileStore(db).listDifferences(later.id);
        expect(open).toMatchObject({ kind: "missing-ours", seenBefore: true });
      });

      it("an operator resolves a difference with a reason, once", async () => {
        const store = new ReconcileStore(db);
        const [latest] = await store.listRuns({ channel: "lanbank", businessDate: "2026-12-05" });
        const [difference] = await store.listDifferences(latest!.id, { unresolved: true });
        const resolved = await store.resolveDifference({
          id: difference!.id,
          operator: "ops-li",
          reason: "test loan booked by hand at the bank; refunded",
          now: new Date("2026-12-06T02:00:00Z"),
        });
        expect(resolved.resolved).toEqual({
          at: "2026-12-06T02:00:00.000Z",
          by: "ops-li",
          reason: "test loan booked by hand at the bank; refunded",
        });
        expect(await store.listDifferences(latest!.id, { unresolved: true })).toEqual([]);
        await expect(
          store.resolveDifference({
            id: difference!.id,
            operator: "ops-wang",
            reason: "again",
            now: new Date(),
          }),
        ).rejects.toMatchObject({
          code: "STORE_CONFLICT",
          message: expect.stringContaining("ops-li"),
        });
        await expect(
          store.resolveDifference({ id: "999999", operator: "ops", reason: "x", now: new Date() }),
        ).rejects.toMatchObject({ code: "RECONCILE_NOT_FOUND" });
        await expect(
          store.resolveDifference({
            id: difference!.id,
            operator: "ops",
            reason: " ",
            now: new Date(),
          }),
        ).rejects.toMatchObject({ code: "CONFIG_INVALID" });
      });

      it("a file that does not read fails its run, and the next run of it takes over", async () => {
        const broken = "3|1.00\nno,columns,here\n";
        await expect(run(broken)).rejects.toMatchObject({ code: "STATEMENT_UNREADABLE" });
        const [failed] = await new ReconcileStore(db).listRuns({ channel: "lanbank" });
        expect(failed).toMatchObject({ state: "failed", error: { code: "STATEMENT_UNREADABLE" } });
        await expect(run(broken)).rejects.toMatchObject({ code: "STATEMENT_UNREADABLE" });
        expect(await new ReconcileStore(db).listRuns({ channel: "lanbank" })).toHaveLength(3);
      });

      it("a file not there yet is unavailable (retryable)", async () => {
        await expect(
          runReconciliation({ db, statement, businessDate: "2026-12-07", baseDir: folder.dir }),
        ).rejects.toMatchObject({ code: "STATEMENT_UNAVAILABLE", retryable: true });
      });

      const plain = (
        code: string,
        text: string,
        extra: Partial<StatementDefinition> = {},
        options: { again?: boolean } = {},
      ) => {
        const { statuses: _statuses, ...withoutStatuses } = statement;
        const defined: StatementDefinition = {
          ...withoutStatuses,
          code,
          source: { kind: "file", path: `${code}-{yyyyMMdd}.csv` },
          header: { lines: 0 },
          columns: { businessKey: "outOrderNo", amount: "amount" },
          ...extra,
        };
        return writeText(join(folder.dir, `${code}-20261205.csv`), text, "GBK").then(() =>
          runReconciliation({
            db,
            statement: defined,
            businessDate: "2026-12-05",
            baseDir: folder.dir,
            ...options,
          }),
        );
      };

      it("without a status column, a line for an instance we hold as failed is a status mismatch", async () => {
        const { run: done } = await plain(
          "loan-plain",
          "outOrderNo|amount\nL003|300.00\nL001|1500.00\n",
        );
        expect(done.counts).toMatchObject({ matched: 1, "status-mismatch": 1 });
        const [mismatch] = await new ReconcileStore(db).listDifferences(done.id, {
          kind: "status-mismatch",
        });
        expect(mismatch).toMatchObject({
          businessKey: "L003",
          funder: { mappedStatus: "succeeded" },
          ours: { status: "failed" },
        });
        expect(mismatch!.funder!.status).toBeUndefined();
        // A statement of refusals says so: then the failed instance agrees.
        const { run: refusals } = await plain("loan-refused", "outOrderNo|amount\nL003|300.00\n", {
          impliedStatus: "failed",
        });
        expect(refusals.counts).toMatchObject({ matched: 1, "status-mismatch": 0 });
      });

      it("a corrected definition reconciles the same file anew; again does so on purpose", async () => {
        const text = "outOrderNo|amount\nL001|150000\nL002|200000\n";
        const first = await plain("loan-fix", text, { amount: { unit: "yuan" } });
        expect(first.run.counts).toMatchObject({ matched: 0, "amount-mismatch": 2 });
        const same = await plain("loan-fix", text, { amount: { unit: "yuan" } });
        expect(same).toMatchObject({ reused: true, run: { id: first.run.id, attempt: 0 } });
        // The unit was wrong: fixed, the same file is read again and compared with the first run.
        const fen = { amount: { unit: "fen" as const } };
        const fixed = await plain("loan-fix", text, fen);
        expect(fixed.reused).toBe(false);
        expect(fixed.run).toMatchObject({
          fileDigest: first.run.fileDigest,
          comparedWith: first.run.id,
          attempt: 0,
          counts: { matched: 2, "amount-mismatch": 0 },
        });
        expect(fixed.run.definitionDigest).toMatch(/^[0-9a-f]{64}$/);
        expect(fixed.run.definitionDigest).not.toBe(first.run.definitionDigest);
        // A description changes no result: the run is the one made.
        const described = await plain("loan-fix", text, { ...fen, description: "loans" });
        expect(described).toMatchObject({ reused: true, run: { id: fixed.run.id } });
        // Our side changed (an instance settled late): only asked for, the file is run again.
        const again = await plain("loan-fix", text, fen, { again: true });
        expect(again.reused).toBe(false);
        expect(again.run).toMatchObject({ attempt: 1, comparedWith: fixed.run.id });
        expect(again.run.id).not.toBe(fixed.run.id);
        const after = await plain("loan-fix", text, fen);
        expect(after).toMatchObject({ reused: true, run: { id: again.run.id, attempt: 1 } });
      });

      it("a line dated another day, or for an instance of another day, is other-day", async () => {
        const dated = {
          columns: { businessKey: "outOrderNo", amount: "amount", occurredAt: "finishTime" },
          timestampFormat: "yyyyMMddHHmmss",
        };
        const text = [
          "outOrderNo|amount|finishTime",
          "L001|1500.00|20261205100000",
          "L002|2000.00|20261204100000", // our L002 settled on the 5th; the funder dates it the 4th
          "L005|70.00|20261204235959", // the 4th's loan, listed again on the 5th's file
          "L006|50.00|20261205000010",
          "",
        ].join("\n");
        const { run: strict } = await plain("loan-dated", text, dated);
        expect(strict.counts).toMatchObject({
          matched: 2,
          "other-day": 2,
          "missing-funder": 1,
          "missing-ours": 0,
        });
        const store = new ReconcileStore(db);
        const otherDay = await store.listDifferences(strict.id, { kind: "other-day" });
        expect(otherDay).toEqual([
          expect.objectContaining({
            businessKey: "L002",
            funder: expect.objectContaining({ occurredAt: expect.stringMatching(/^2026-12-04/) }),
            ours: expect.objectContaining({ businessKey: "L002", status: "succeeded" }),
          }),
          expect.objectContaining({ businessKey: "L005", lineNo: 4 }),
        ]);
        // A funder whose cut-off is a minute before midnight: the 4th's last minute is the 5th's.
        const { run: margin } = await plain("loan-dated-margin", text, {
          ...dated,
          dayMargin: { before: "1m" },
        });
        expect(margin.counts).toMatchObject({ matched: 3, "other-day": 1 });
        const { run: wrongLine } = await plain(
          "loan-dated-file",
          "outOrderNo|amount\nL005|70.00\n",
        );
        expect(wrongLine.counts).toMatchObject({ matched: 0, "other-day": 1 });
        // Dated by the funder within the day, the line matches an instance we settled on another
        // (a callback after midnight, an instance settled by hand after the day).
        const { run: settledApart } = await plain(
          "loan-dated-ours-apart",
          "outOrderNo|amount|finishTime\nL005|70.00|20261205000100\n",
          dated,
        );
        expect(settledApart.counts).toMatchObject({ matched: 1, "other-day": 0 });
      });

      it("a line whose key or reference two of our instances share matches neither: ambiguous-line, with both", async () => {
        const plant = (behavior: string, key: string, ref: string, amount: string) =>
          insertInstance(db, {
            channel: "ambank",
            behavior,
            businessKey: key,
            input: { amount },
            context: { bankLoanNo: ref },
            status: "succeeded",
            updatedAt: onDate,
          });
        // One key on a loan and a repayment, for a statement without a kind column.
        const loanK1 = await plant("loan", "K1", "R1", "100.00");
        const repayK1 = await plant("repay", "K1", "R1R", "100.00");
        // Two repayments of one loan: the bank's loan number is on both.
        const repayK2 = await plant("repay", "K2", "RS", "20.00");
        const repayK3 = await plant("repay", "K3", "RS", "30.00");
        await plant("loan", "K4", "R4", "40.00");
        const { run: done } = await plain(
          "ambiguous",
          "outOrderNo|loanNo|amount\nK1||100.00\n|RS|20.00\n|R4|40.00\n",
          {
            channel: "ambank",
            behaviors: ["loan", "repay"],
            columns: { businessKey: "outOrderNo", partnerReference: "loanNo", amount: "amount" },
          },
        );
        expect(done.counts).toMatchObject({
          matched: 1,
          "ambiguous-line": 2,
          "missing-ours": 0,
          "missing-funder": 0,
          "amount-mismatch": 0,
        });
        const found = await new ReconcileStore(db).listDifferences(done.id);
        expect(found.map((d) => d.kind)).toEqual(["ambiguous-line", "ambiguous-line"]);
        const [byKey, byReference] = found;
        expect(byKey).toMatchObject({ lineNo: 2, businessKey: "K1", funder: { lineNo: 2 } });
        expect(byKey!.instanceId).toBeUndefined();
        const ids = (d: typeof byKey) =>
          ((d!.ours as { candidates: { instanceId: string }[] }).candidates ?? [])
            .map((c) => c.instanceId)
            .sort();
        expect(ids(byKey)).toEqual([loanK1, repayK1].sort());
        expect(byReference).toMatchObject({ lineNo: 3, partnerReference: "RS" });
        expect(ids(byReference)).toEqual([repayK2, repayK3].sort());
        expect((byReference!.ours as { candidates: unknown[] }).candidates).toContainEqual(
          expect.objectContaining({ businessKey: "K3", amount: "3000", status: "succeeded" }),
        );
      });

      it("a status the definition does not list is a malformed line, never equal to ours by its text", async () => {
        const { run: done } = await plain(
          "loan-ourwords",
          "outOrderNo|amount|status\nL001|1500.00|succeeded\nL002|2000.00|成功\n",
          {
            columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
            statuses: { 成功: "succeeded" },
          },
        );
        expect(done.counts).toMatchObject({ matched: 1, "malformed-line": 1 });
        const [malformed] = await new ReconcileStore(db).listDifferences(done.id, {
          kind: "malformed-line",
        });
        expect(malformed).toMatchObject({
          lineNo: 2,
          funder: {
            problem: "status (column status) holds a value not in the statement's statuses",
          },
        });
      });
    },
  );
}
