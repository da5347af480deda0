import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { AlertMonitor, createDefaultSecretResolver, ManualClock } from "@capflow/core";
import { type CapflowDatabase, KnexAlertStore } from "@capflow/store-knex";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestPostgres, skipMessage } from "../../store-knex/test/support/databases.ts";
import {
  ReconcileStore,
  reconciliationAlerts,
  runReconciliation,
  type StatementDefinition,
} from "../src/index.ts";
import { insertInstance } from "./support/instances.ts";
import { statementFolder, writeText } from "./support/statement-files.ts";

const statement: StatementDefinition = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "lanbank-loan-{yyyyMMdd}.csv" },
  format: { kind: "delimited", delimiter: "|" },
  columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
  statuses: { SUCCESS: "succeeded", FAIL: "failed" },
};

const secret = "pager-secret-0123";

interface Received {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: {
    type: string;
    alert: { subject: string; summary: string; details: Record<string, unknown> };
  };
}

describe.skipIf(!process.env.DATABASE_URL)("differences raise alerts", () => {
  let db: CapflowDatabase & { drop: () => Promise<void> };
  let folder: Awaited<ReturnType<typeof statementFolder>>;
  let server: Server;
  let url: string;
  const received: Received[] = [];
  const clock = new ManualClock(Date.UTC(2026, 11, 6, 1, 0, 0));

  beforeAll(async () => {
    if (!process.env.DATABASE_URL) console.warn(skipMessage);
    db = await openTestPostgres();
    folder = await statementFolder();
    for (const [key, amount] of [
      ["L001", "100.00"],
      ["L002", "200.00"],
    ] as const) {
      for (const day of ["05", "06"]) {
        await insertInstance(db, {
          channel: "lanbank",
          behavior: "loan",
          businessKey: `${key}-${day}`,
          input: { amount },
          context: {},
          status: "succeeded",
          updatedAt: `2026-12-${day}T10:00:00+08:00`,
        });
      }
    }
    server = createServer((request, response) => {
      let raw = "";
      request.on("data", (chunk) => {
        raw += chunk;
      });
      request.on("end", () => {
        received.push({ headers: request.headers, raw, body: JSON.parse(raw) });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/capflow`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await db?.drop();
    await folder?.remove();
  });
  beforeEach(() => {
    received.length = 0;
  });

  function monitor() {
    return new AlertMonitor({
      config: {
        rules: [{ name: "statement-differences", kind: "reconciliation", severity: "critical" }],
        sinks: [{ name: "pager", kind: "webhook", url, secret: `inline:${secret}` }],
      },
      store: new KnexAlertStore(db),
      clock,
      secrets: createDefaultSecretResolver({ allowInline: true }),
      reconciliation: reconciliationAlerts(db),
    });
  }

  const run = async (date: string, lines: string[]) => {
    const compact = date.replaceAll("-", "");
    await writeText(
      join(folder.dir, `lanbank-loan-${compact}.csv`),
      ["outOrderNo|amount|status", ...lines, ""].join("\n"),
    );
    return runReconciliation({
      db,
      statement,
      businessDate: date,
      baseDir: folder.dir,
      alerts: monitor(),
    });
  };

  it("sends one signed alert per run with differences, naming the statement, date and file", async () => {
    const { run: first } = await run("2026-12-05", [
      "L001-05|100.00|SUCCESS",
      "L002-05|200.01|SUCCESS",
      "L404-05|5.00|SUCCESS",
    ]);
    expect(received).toHaveLength(1);
    const [message] = received;
    const timestamp = String(message!.headers["x-capflow-timestamp"]);
    expect(message!.headers["x-capflow-signature"]).toBe(
      `v1=${createHmac("sha256", secret).update(`${timestamp}.${message!.raw}`).digest("hex")}`,
    );
    expect(message!.body.type).toBe("alert.firing");
    expect(message!.body.alert.subject).toBe(
      `lanbank/loan-daily 2026-12-05 sha256:${first.fileDigest.slice(0, 12)}`,
    );
    expect(message!.body.alert.summary).toContain("2 differences open");
    expect(message!.body.alert.summary).toContain(`capflow reconcile show ${first.id}`);
    expect(message!.body.alert.details).toMatchObject({
      run: first.id,
      fileDigest: first.fileDigest,
      open: { "amount-mismatch": 1, "missing-ours": 1 },
    });
  });

  it("the same file again sends nothing more", async () => {
    const again = await run("2026-12-05", [
      "L001-05|100.00|SUCCESS",
      "L002-05|200.01|SUCCESS",
      "L404-05|5.00|SUCCESS",
    ]);
    expect(again.reused).toBe(true);
    expect(received).toHaveLength(0);
    const open = await new KnexAlertStore(db).listAlerts({ status: "firing" });
    expect(open).toHaveLength(1);
  });

  it("a corrected file with differences is a new alert; the earlier file's alert resolves", async () => {
    const [earlier] = await new KnexAlertStore(db).listAlerts({ status: "firing" });
    const { run: later } = await run("2026-12-05", [
      "L001-05|100.00|SUCCESS",
      "L002-05|200.00|SUCCESS",
      "L404-05|5.00|SUCCESS",
    ]);
    expect(received.map((m) => [m.body.type, m.body.alert.subject])).toEqual([
      ["alert.firing", `lanbank/loan-daily 2026-12-05 sha256:${later.fileDigest.slice(0, 12)}`],
      ["alert.resolved", earlier!.subject],
    ]);
    expect(received[0]!.body.alert.summary).toContain("1 difference open (missing-ours 1)");
  });

  it("resolves when every difference of the date's latest run is marked resolved", async () => {
    const store = new ReconcileStore(db);
    const [latest] = await store.listRuns({ businessDate: "2026-12-05", limit: 1 });
    const alerts = monitor();
    for (const difference of await store.listDifferences(latest!.id, { unresolved: true })) {
      await store.resolveDifference({
        id: difference.id,
        operator: "ops-li",
        reason: "not ours: another product's loan",
        now: new Date(clock.now()),
      });
    }
    const round = await alerts.evaluate({ kinds: ["reconciliation"] });
    expect(round.resolved).toHaveLength(1);
    expect(received.map((m) => m.body.type)).toEqual(["alert.resolved"]);
    expect(await new KnexAlertStore(db).listAlerts({ status: "firing" })).toHaveLength(0);
  });

  it("resolves when a later run of the date has no differences; other dates are apart", async () => {
    await run("2026-12-06", ["L001-06|100.00|FAIL", "L002-06|200.00|SUCCESS"]);
    expect(received.map((m) => m.body.type)).toEqual(["alert.firing"]);
    received.length = 0;
    const { run: clean } = await run("2026-12-06", [
      "L001-06|100.00|SUCCESS",
      "L002-06|200.00|SUCCESS",
    ]);
    expect(clean.counts).toMatchObject({ matched: 2, "status-mismatch": 0 });
    expect(received.map((m) => [m.body.type, m.body.alert.subject.split(" ")[1]])).toEqual([
      ["alert.resolved", "2026-12-06"],
    ]);
    expect(await reconciliationAlerts(db)()).toEqual([]);
  });
});
