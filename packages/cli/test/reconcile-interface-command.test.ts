import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { codecFor, createDefaultSecretResolver } from "@capflow/core";
import {
  createFunderCryptoHandler,
  type MockFunder,
  type PartnerKeySet,
  startMockFunder,
} from "@capflow/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { billEndpoint, cedarBankFunder } from "../../../examples/cedar-bank/mock-funder.ts";
import { insertInstance } from "../../reconcile/test/support/instances.ts";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { runCapflow } from "./support/run-capflow.ts";
import { writeScheduleAroundToday } from "./support/schedule-around-today.ts";

const databaseUrl = process.env.DATABASE_URL;
const cedarDefinitions = join(cedarBankFunder.dir, "definitions");

/** Relative `file:` references made absolute, so the copied channel still finds its keys. */
function absoluteKeys(value: unknown): unknown {
  if (typeof value === "string" && value.startsWith("file:")) {
    const path = value.slice("file:".length);
    return isAbsolute(path) ? value : `file:${resolve(cedarDefinitions, path)}`;
  }
  if (Array.isArray(value)) return value.map(absoluteKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, absoluteKeys(v)]));
  }
  return value;
}

describe.skipIf(!databaseUrl)("capflow reconcile run through a channel's interface", () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let dir: string;
  let funder: MockFunder;
  const bills = new Map<string, Buffer>();

  beforeAll(async () => {
    db = await openTestPostgres();
    dir = await mkdtemp(join(tmpdir(), "capflow-reconcile-interface-"));
    const channel = JSON.parse(
      await readFile(join(cedarDefinitions, "cedar-bank.channel.json"), "utf8"),
    ) as { crypto: unknown };
    const { keys } = JSON.parse(
      await readFile(join(cedarBankFunder.dir, "keys", "partner.crypto.json"), "utf8"),
    ) as { keys: PartnerKeySet };
    funder = await startMockFunder({
      handler: await createFunderCryptoHandler(channel.crypto as never, keys, {
        secrets: createDefaultSecretResolver(),
        baseDir: cedarDefinitions,
      }),
      codec: codecFor("xml", { xml: { root: "message" }, charset: "gbk" }),
      charset: "gbk",
      endpoints: { "POST /h2h/bill": billEndpoint(bills) },
    });
    await writeFile(
      join(dir, "cedar-bank.channel.json"),
      JSON.stringify({ ...channel, baseUrl: funder.url, crypto: absoluteKeys(channel.crypto) }),
    );
    await writeFile(
      join(dir, "cedar-bank.loan.behavior.json"),
      await readFile(join(cedarDefinitions, "cedar-bank.loan.behavior.json")),
    );
    const statement = JSON.parse(
      await readFile(join(cedarDefinitions, "cedar-bank.loan.statement.json"), "utf8"),
    ) as Record<string, unknown>;
    delete statement.$schema;
    // The same interface, carrying a CSV bill here.
    await writeFile(
      join(dir, "cedar-bank.loan.statement.json"),
      JSON.stringify({
        ...statement,
        source: { ...(statement.source as object), name: "CEDAR_LOAN_{yyyyMMdd}.csv" },
        format: { kind: "delimited" },
        header: undefined,
        columns: { businessKey: "partnerLoanNo", amount: "amount", status: "status" },
        timestampFormat: undefined,
      }),
    );
    bills.set(
      "20261205",
      Buffer.from("partnerLoanNo,amount,status\nC001,30000.00,LENT\nC404,1.00,LENT\n"),
    );
    await insertInstance(db, {
      channel: "cedar-bank",
      behavior: "loan",
      businessKey: "C001",
      input: { loanNo: "C001", amount: "30000.00" },
      context: {},
      status: "succeeded",
      updatedAt: "2026-12-05T10:30:00+08:00",
    });
  });
  afterAll(async () => {
    await funder?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];

  test("calls the bank's bill interface with the channel's crypto and reconciles what it answers", async () => {
    const run = await runCapflow(
      "reconcile",
      "run",
      "--channel",
      "cedar-bank",
      "--date",
      "2026-12-05",
      "--definitions",
      dir,
      "--json",
      ...database(),
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({
      fileName: "CEDAR_LOAN_20261205.csv",
      counts: { matched: 1, "missing-ours": 1 },
    });
    const [request] = funder.requests();
    expect(request).toMatchObject({ body: { body: { billDate: "20261205" } } });
    expect(request!.headers["x-cedar-signature"]).toBeTruthy();

    const early = await runCapflow(
      "reconcile",
      "run",
      "--channel",
      "cedar-bank",
      "--date",
      "2026-12-06",
      "--definitions",
      dir,
      ...database(),
    );
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toContain("not there yet");
  });

  test("--holidays gives the channel's calendar the worker's holiday schedules: a holiday holds the bill download", async () => {
    // The same channel, its bill interface judged on working days of the schedule "acme".
    const withCalendar = join(dir, "with-calendar");
    await mkdir(withCalendar);
    for (const file of [
      "cedar-bank.channel.json",
      "cedar-bank.loan.behavior.json",
      "cedar-bank.loan.statement.json",
    ]) {
      await copyFile(join(dir, file), join(withCalendar, file));
    }
    const channelFile = join(withCalendar, "cedar-bank.channel.json");
    await writeFile(
      channelFile,
      JSON.stringify({
        ...JSON.parse(await readFile(channelFile, "utf8")),
        calendar: {
          workingDaysOnly: true,
          holidays: "acme",
          interfaces: { "bill.download": ["workingDays"] },
        },
      }),
    );
    bills.set("20261204", Buffer.from("partnerLoanNo,amount,status\nC002,20000.00,LENT\n"));
    await insertInstance(db, {
      channel: "cedar-bank",
      behavior: "loan",
      businessKey: "C002",
      input: { loanNo: "C002", amount: "20000.00" },
      context: {},
      status: "succeeded",
      updatedAt: "2026-12-04T10:30:00+08:00",
    });
    const reconcile = (...more: string[]) =>
      runCapflow(
        "reconcile",
        "run",
        ...["--channel", "cedar-bank", "--date", "2026-12-04", "--definitions", withCalendar],
        ...database(),
        ...more,
      );
    const requestsBefore = funder.requests().length;

    // Without the file the calendar knows no "acme", as a worker without it would not.
    const unknown = await reconcile();
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(
      /\[CONFIG_INVALID\] channel cedar-bank's calendar names the holiday schedule "acme", which the calendar was not given/,
    );
    // Whatever day it is, the file decides: one leaves today to its weekday, the other makes it
    // the opposite (a holiday on a weekday, a make-up working day on a weekend). On the closed day
    // the bank is not called; on the open one the bill is fetched and reconciled.
    const schedule = { name: "acme", timeZone: "Asia/Shanghai" };
    const asWeekday = join(dir, "acme-as-weekday.json");
    const flipped = join(dir, "acme-flipped.json");
    const { openToday } = await writeScheduleAroundToday(asWeekday, {
      ...schedule,
      flipsToday: false,
    });
    await writeScheduleAroundToday(flipped, { ...schedule, flipsToday: true });
    const [closedFile, openFile] = openToday ? [flipped, asWeekday] : [asWeekday, flipped];
    const closed = await reconcile("--holidays", closedFile);
    expect(closed.exitCode).toBe(1);
    expect(closed.stderr).toMatch(
      /\[CALENDAR_CLOSED\] cedar-bank bill\.download was not called: calendar: cedar-bank is closed until /,
    );
    expect(funder.requests()).toHaveLength(requestsBefore);
    const open = await reconcile("--holidays", openFile, "--json");
    expect(open.stderr).toBe("");
    expect(JSON.parse(open.stdout)).toMatchObject({
      fileName: "CEDAR_LOAN_20261204.csv",
      counts: { matched: 1 },
    });
    expect(funder.requests()).toHaveLength(requestsBefore + 1);
  });
});
