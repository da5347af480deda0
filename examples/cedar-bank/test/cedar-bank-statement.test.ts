import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ChannelDefinition,
  codecFor,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  loadDefinitionsOrThrow,
  MemoryDefinitionSource,
  MemoryInstanceStore,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { loadStatementsOrThrow, ReconcileStore, runReconciliation } from "@capflow/reconcile";
import type { CapflowDatabase } from "@capflow/store-knex";
import {
  createFunderCryptoHandler,
  type MockFunder,
  type PartnerKeySet,
  startMockFunder,
} from "@capflow/testkit";
import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertInstance } from "../../../packages/reconcile/test/support/instances.ts";
import { openTestPglite } from "../../../packages/store-knex/test/support/databases.ts";
import { billEndpoint, cedarBankFunder } from "../mock-funder.ts";

const definitionsDir = join(cedarBankFunder.dir, "definitions");
const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });

/** The bank's bill as its back office exports it: one sheet, totals first, then the loans. */
async function bill(rows: (string | number)[][], declared: [number, string]): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet("放款明细");
  sheet.addRow(["合计", declared[0], declared[1]]);
  sheet.addRow(["合作方借据号", "银行借据号", "放款金额", "状态", "放款时间"]);
  for (const row of rows) sheet.addRow(row);
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

describe("Cedar Bank's statement, downloaded through the bank's own bill interface", () => {
  const bills = new Map<string, Buffer>();
  let funder: MockFunder;
  let engine: Engine;
  let db: CapflowDatabase;

  beforeAll(async () => {
    const channel = JSON.parse(
      await readFile(join(definitionsDir, "cedar-bank.channel.json"), "utf8"),
    ) as ChannelDefinition;
    const { keys } = JSON.parse(
      await readFile(join(cedarBankFunder.dir, "keys", "partner.crypto.json"), "utf8"),
    ) as { keys: PartnerKeySet };
    funder = await startMockFunder({
      handler: await createFunderCryptoHandler(channel.crypto, keys, {
        secrets: createDefaultSecretResolver(),
        baseDir: definitionsDir,
      }),
      codec: xml,
      charset: "gbk",
      endpoints: { "POST /h2h/bill": billEndpoint(bills) },
    });
    const loaded = await loadDefinitionsOrThrow(definitionsDir);
    engine = createEngine({
      store: new MemoryInstanceStore(),
      definitions: new MemoryDefinitionSource({
        channels: [{ ...channel, baseUrl: funder.url }],
        behaviors: loaded.behaviors,
        baseDir: definitionsDir,
      }),
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    db = await openTestPglite();
    for (const [key, amount] of [
      ["C001", "30000.00"],
      ["C002", "12000.00"],
    ] as const) {
      await insertInstance(db, {
        channel: "cedar-bank",
        behavior: "loan",
        businessKey: key,
        input: { loanNo: key, amount },
        context: { bankLoanNo: `CB-${key}` },
        status: "succeeded",
        updatedAt: "2026-12-05T10:30:00+08:00",
      });
    }
  });
  afterAll(async () => {
    await engine?.close();
    await funder?.close();
    await db?.close();
  });

  it("signs the request, verifies the answer's CMS signature, and reconciles the xlsx it carries", async () => {
    const [statement] = await loadStatementsOrThrow(definitionsDir);
    bills.set(
      "20261205",
      await bill(
        [
          ["C001", "CB-C001", 30000, "LENT", "2026-12-05 10:30:00"],
          ["C002", "CB-C002", "12000.01", "LENT", "2026-12-05 10:31:00"],
        ],
        [2, "42000.01"],
      ),
    );
    const { run } = await runReconciliation({
      db,
      statement: statement!,
      businessDate: "2026-12-05",
      baseDir: definitionsDir,
      engine,
    });
    expect(run).toMatchObject({
      state: "completed",
      fileName: "CEDAR_LOAN_20261205.xlsx",
      lineCount: 2,
      counts: { matched: 1, "amount-mismatch": 1, "totals-mismatch": 0 },
      totals: { declared: { count: 2, amount: "4200001" } },
    });
    const [request] = funder.requests();
    expect(request).toMatchObject({
      path: "/h2h/bill",
      body: { head: { txCode: "BILL" }, body: { billDate: "20261205", billType: "LOAN" } },
    });
    expect(request!.headers["x-cedar-signature"]).toBeTruthy();
    const differences = await new ReconcileStore(db).listDifferences(run.id);
    expect(differences.map((d) => [d.kind, d.businessKey])).toEqual([["amount-mismatch", "C002"]]);
  });

  it("a bill not generated yet is STATEMENT_UNAVAILABLE (tried again later), and nothing is stored", async () => {
    const [statement] = await loadStatementsOrThrow(definitionsDir);
    const before = await new ReconcileStore(db).listRuns();
    await expect(
      runReconciliation({
        db,
        statement: statement!,
        businessDate: "2026-12-06",
        baseDir: definitionsDir,
        engine,
      }),
    ).rejects.toMatchObject({
      code: "STATEMENT_UNAVAILABLE",
      message: expect.stringContaining("B001"),
    });
    expect(await new ReconcileStore(db).listRuns()).toHaveLength(before.length);
  });

  it("refuses to call a non-idempotent interface outside an instance, sending nothing", async () => {
    const sent = funder.requests().length;
    await expect(
      engine.callInterface({
        channel: "cedar-bank",
        interface: "loan.apply",
        request: { format: "xml", xml: { root: "message" }, body: { body: {} } },
        purpose: "statement:cedar-bank/loan-daily:2026-12-05",
      }),
    ).rejects.toMatchObject({
      code: "DEFINITION_INVALID",
      message: expect.stringContaining("not idempotent"),
    });
    expect(funder.requests()).toHaveLength(sent);
  });

  it("without the engine, the statement says what it needs", async () => {
    const [statement] = await loadStatementsOrThrow(definitionsDir);
    await expect(
      runReconciliation({ db, statement: statement!, businessDate: "2026-12-05" }),
    ).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("needs the engine"),
    });
  });
});
