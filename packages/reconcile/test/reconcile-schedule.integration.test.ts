import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { openPostgresStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestPostgres, skipMessage } from "../../store-knex/test/support/databases.ts";
import {
  ReconcileSchedule,
  ReconcileStore,
  type ScheduledRunEvent,
  type StatementDefinition,
} from "../src/index.ts";
import { insertInstance } from "./support/instances.ts";
import { statementFolder, writeText } from "./support/statement-files.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) console.warn(skipMessage);

const statement: StatementDefinition = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "lanbank-loan-{yyyyMMdd}.csv" },
  format: { kind: "delimited" },
  columns: { businessKey: "outOrderNo", amount: "amount" },
  schedule: { after: "02:00", retryEvery: "5m", lookBackDays: 1 },
};

describe.skipIf(!databaseUrl)("the daily reconciliation schedule", () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let folder: Awaited<ReturnType<typeof statementFolder>>;
  beforeAll(async () => {
    db = await openTestPostgres();
    folder = await statementFolder();
    await insertInstance(db, {
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L001",
      input: { amount: "10.00" },
      context: {},
      status: "succeeded",
      updatedAt: "2026-12-05T09:00:00+08:00",
    });
  });
  afterAll(async () => {
    await db?.drop();
    await folder?.remove();
  });

  it("runs yesterday's statement once after the cut-off, retrying while the file is not there", async () => {
    let now = new Date("2026-12-06T01:59:00+08:00");
    const events: ScheduledRunEvent[] = [];
    const schedule = new ReconcileSchedule({
      db,
      statements: [statement, { ...statement, code: "manual-only", schedule: undefined } as never],
      baseDir: folder.dir,
      now: () => now,
      onRun: (event) => events.push(event),
    });
    expect(await schedule.check()).toEqual([
      { statement: "lanbank/loan-daily", outcome: "not-due" },
    ]);
    now = new Date("2026-12-06T02:00:00+08:00");
    expect(await schedule.check()).toEqual([
      { statement: "lanbank/loan-daily", businessDate: "2026-12-05", outcome: "failed" },
    ]);
    expect(events[0]).toMatchObject({ error: { code: "STATEMENT_UNAVAILABLE" } });
    await writeText(
      join(folder.dir, "lanbank-loan-20261205.csv"),
      "outOrderNo,amount\nL001,10.00\n",
    );
    now = new Date("2026-12-06T02:04:00+08:00");
    expect((await schedule.check())[0]!.outcome).toBe("waiting-to-retry");
    now = new Date("2026-12-06T02:05:00+08:00");
    expect((await schedule.check())[0]!.outcome).toBe("ran");
    expect(events[1]).toMatchObject({ result: { reused: false, run: { counts: { matched: 1 } } } });
    now = new Date("2026-12-06T23:00:00+08:00");
    expect((await schedule.check())[0]!.outcome).toBe("done-before");
  });

  it("looks back lookBackDays (default 7) for dates without a completed run, oldest first", async () => {
    const lookBack: StatementDefinition = {
      ...statement,
      code: "look-back",
      source: { kind: "file", path: "look-back-{yyyyMMdd}.csv" },
      schedule: { after: "02:00", retryEvery: "5m" },
    };
    const write = (date: string) =>
      writeText(join(folder.dir, `look-back-${date}.csv`), "outOrderNo,amount\nL001,10.00\n");
    await Promise.all(["20261212", "20261214", "20261219"].map(write));
    let now = new Date("2026-12-20T03:00:00+08:00");
    const events: ScheduledRunEvent[] = [];
    const schedule = new ReconcileSchedule({
      db,
      statements: [lookBack],
      baseDir: folder.dir,
      now: () => now,
      onRun: (event) => events.push(event),
    });
    const first = await schedule.check();
    expect(first.map((c) => `${c.businessDate} ${c.outcome}`)).toEqual([
      "2026-12-13 failed",
      "2026-12-14 ran",
      "2026-12-15 failed",
      "2026-12-16 failed",
      "2026-12-17 failed",
      "2026-12-18 failed",
      "2026-12-19 ran",
    ]);
    expect(events.map((event) => event.businessDate)).toEqual([
      "2026-12-13",
      "2026-12-14",
      "2026-12-15",
      "2026-12-16",
      "2026-12-17",
      "2026-12-18",
      "2026-12-19",
    ]);
    // A file published after the next day's cut-off is still reconciled; done dates are left be.
    await write("20261216");
    now = new Date("2026-12-20T03:05:00+08:00");
    expect((await schedule.check()).map((c) => `${c.businessDate} ${c.outcome}`)).toEqual([
      "2026-12-13 failed",
      "2026-12-15 failed",
      "2026-12-16 ran",
      "2026-12-17 failed",
      "2026-12-18 failed",
    ]);
    const store = new ReconcileStore(db);
    expect(await store.listRuns({ statement: "look-back", businessDate: "2026-12-12" })).toEqual(
      [],
    );
  });

  it("a failure retrying cannot fix (an unpinned SFTP server) stops the date, said once", async () => {
    let now = new Date("2026-12-10T03:00:00+08:00");
    const events: ScheduledRunEvent[] = [];
    const raised: unknown[][] = [];
    const schedule = new ReconcileSchedule({
      db,
      statements: [
        {
          ...statement,
          source: {
            kind: "sftp",
            host: "127.0.0.1",
            username: "cap",
            privateKey: "env:CAPFLOW_NO_SUCH_KEY",
            path: "/out/{yyyyMMdd}.csv",
          },
        },
      ],
      baseDir: folder.dir,
      now: () => now,
      onRun: (event) => events.push(event),
      alerts: {
        evaluate: async () => ({}) as never,
        raise: async (...args) => {
          raised.push(args);
        },
      },
    });
    expect((await schedule.check())[0]!.outcome).toBe("stopped");
    now = new Date("2026-12-10T05:00:00+08:00");
    expect((await schedule.check())[0]!.outcome).toBe("stopped");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      stopped: true,
      error: { code: "STATEMENT_INVALID", retryable: false },
    });
    expect(raised).toEqual([
      [
        "reconciliation-stopped",
        "lanbank/loan-daily",
        expect.stringContaining("lanbank/loan-daily 2026-12-09: reconciliation stopped"),
        { channel: "lanbank", statement: "loan-daily", businessDate: "2026-12-09" },
      ],
    ]);
  });

  it("a stop is stored: a restarted node neither tries again nor alerts again, until an operator clears it", async () => {
    const unpinned: StatementDefinition = {
      ...statement,
      code: "stop-kept",
      source: {
        kind: "sftp",
        host: "127.0.0.1",
        username: "cap",
        privateKey: "env:CAPFLOW_NO_SUCH_KEY",
        path: "/out/{yyyyMMdd}.csv",
      },
    };
    let now = new Date("2026-12-12T03:00:00+08:00");
    const raised: unknown[][] = [];
    const node = (definition = unpinned) => {
      const events: ScheduledRunEvent[] = [];
      const schedule = new ReconcileSchedule({
        db,
        statements: [definition],
        baseDir: folder.dir,
        now: () => now,
        onRun: (event) => events.push(event),
        alerts: {
          evaluate: async () => ({}) as never,
          raise: async (...args) => {
            raised.push(args);
          },
        },
      });
      return { schedule, events };
    };
    const first = node();
    expect((await first.schedule.check())[0]!.outcome).toBe("stopped");
    expect(raised).toHaveLength(1);
    const store = new ReconcileStore(db);
    const [stop] = await store.listStops({ statement: "stop-kept" });
    expect(stop).toMatchObject({
      channel: "lanbank",
      businessDate: "2026-12-11",
      error: { code: "STATEMENT_INVALID" },
    });
    // The node restarts: the stop holds, is said once in its log, and alerts nobody again.
    now = new Date("2026-12-12T09:00:00+08:00");
    const restarted = node();
    expect((await restarted.schedule.check())[0]!.outcome).toBe("stopped");
    expect((await restarted.schedule.check())[0]!.outcome).toBe("stopped");
    expect(restarted.events).toHaveLength(1);
    expect(restarted.events[0]).toMatchObject({
      stopped: true,
      error: { code: "STATEMENT_INVALID", message: expect.stringContaining("stopped since") },
    });
    expect(raised).toHaveLength(1);
    // An operator clears it (with who and why): the next check tries again.
    const [cleared] = await store.clearStop({
      channel: "lanbank",
      statement: "stop-kept",
      operator: "ops-li",
      reason: "checked the key with the funder",
      now,
    });
    expect(cleared!.cleared).toMatchObject({
      by: "ops-li",
      reason: "checked the key with the funder",
    });
    await expect(
      store.clearStop({
        channel: "lanbank",
        statement: "stop-kept",
        operator: "x",
        reason: "y",
        now,
      }),
    ).rejects.toMatchObject({ code: "RECONCILE_NOT_FOUND" });
    expect((await restarted.schedule.check())[0]!.outcome).toBe("stopped");
    expect(raised).toHaveLength(2);
    // A corrected definition is tried anew; once it reconciles, the earlier stop is over.
    await writeText(join(folder.dir, "stop-kept-20261211.csv"), "outOrderNo,amount\nL001,10.00\n");
    const fixed = node({
      ...unpinned,
      source: { kind: "file", path: "stop-kept-{yyyyMMdd}.csv" },
    });
    expect((await fixed.schedule.check())[0]!.outcome).toBe("ran");
    expect(await store.listStops({ statement: "stop-kept" })).toEqual([]);
    const all = await store.listStops({ statement: "stop-kept", all: true });
    expect(all.map((s) => s.cleared?.by)).toEqual(["schedule", "ops-li"]);
  });

  it("an unreadable file is tried again every retryEvery: the funder may correct it", async () => {
    const unreadable: StatementDefinition = {
      ...statement,
      code: "unreadable",
      source: { kind: "file", path: "unreadable-{yyyyMMdd}.csv" },
    };
    await writeText(join(folder.dir, "unreadable-20261210.csv"), "no,such,columns\nL001,1,2\n");
    let now = new Date("2026-12-11T03:00:00+08:00");
    const schedule = new ReconcileSchedule({
      db,
      statements: [unreadable],
      baseDir: folder.dir,
      now: () => now,
    });
    expect((await schedule.check())[0]!.outcome).toBe("failed");
    now = new Date("2026-12-11T03:05:00+08:00");
    expect((await schedule.check())[0]!.outcome).toBe("failed");
  });

  it("two nodes checking at once: one runs, the other skips; one run is stored", async () => {
    await writeText(
      join(folder.dir, "lanbank-loan-20261207.csv"),
      "outOrderNo,amount\nL001,10.00\n",
    );
    const other = openPostgresStore({ connectionString: databaseUrl!, schema: db.schema });
    try {
      const now = () => new Date("2026-12-08T03:00:00+08:00");
      const nodes = [db, other].map(
        (handle) =>
          new ReconcileSchedule({ db: handle, statements: [statement], baseDir: folder.dir, now }),
      );
      const outcomes = (await Promise.all(nodes.map((node) => node.check()))).map(
        (c) => c[0]!.outcome,
      );
      expect(outcomes.filter((outcome) => outcome === "ran")).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome !== "ran")[0]).toMatch(
        /^(busy-elsewhere|done-before)$/,
      );
      const runs = await new ReconcileStore(db).listRuns({ businessDate: "2026-12-07" });
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ state: "completed", startedBy: "schedule" });
    } finally {
      await other.close();
    }
  });

  it("each date is checked on its own: a date whose check throws is recorded and the next still runs", async () => {
    const own: StatementDefinition = {
      ...statement,
      code: "own-days",
      source: { kind: "file", path: "own-days-{yyyyMMdd}.csv" },
      schedule: { after: "02:00", lookBackDays: 2 },
    };
    await writeText(join(folder.dir, "own-days-20261225.csv"), "outOrderNo,amount\nL001,10.00\n");
    const told: string[] = [];
    const schedule = new ReconcileSchedule({
      db,
      statements: [own],
      baseDir: folder.dir,
      now: () => new Date("2026-12-26T03:00:00+08:00"),
      // A log sink that fails on the first date's news.
      onRun: (event) => {
        told.push(event.businessDate);
        if (event.businessDate === "2026-12-24") throw new Error("log sink down");
      },
    });
    expect((await schedule.check()).map((c) => `${c.businessDate} ${c.outcome}`)).toEqual([
      "2026-12-24 failed",
      "2026-12-25 ran",
    ]);
    expect(told).toEqual(["2026-12-24", "2026-12-25"]);
    const runs = await new ReconcileStore(db).listRuns({ statement: "own-days" });
    expect(runs.map((run) => [run.businessDate, run.state])).toEqual([["2026-12-25", "completed"]]);
  });

  it("a date another node is on (a download that hangs) holds only that date, not the others", async () => {
    let held: ServerResponse | undefined;
    let heldSeen: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      heldSeen = resolve;
    });
    const server = createServer((request, response) => {
      if (request.url === "/bill/20261220.csv") {
        held = response;
        heldSeen();
      } else if (request.url === "/bill/20261221.csv") {
        response.writeHead(200).end("outOrderNo,amount\nL001,10.00\n");
      } else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const other = openPostgresStore({ connectionString: databaseUrl!, schema: db.schema });
    try {
      const slow: StatementDefinition = {
        ...statement,
        code: "slow-day",
        source: { kind: "http", url: `${origin}/bill/{yyyyMMdd}.csv` },
        schedule: { after: "02:00", lookBackDays: 2 },
      };
      const now = () => new Date("2026-12-22T03:00:00+08:00");
      const [first, second] = [db, other].map(
        (handle) =>
          new ReconcileSchedule({ db: handle, statements: [slow], baseDir: folder.dir, now }),
      );
      const firstCheck = first!.check();
      await seen;
      // The first node is downloading the 20th: the second reconciles the 21st meanwhile.
      expect((await second!.check()).map((c) => `${c.businessDate} ${c.outcome}`)).toEqual([
        "2026-12-20 busy-elsewhere",
        "2026-12-21 ran",
      ]);
      held!.writeHead(404).end();
      expect((await firstCheck).map((c) => `${c.businessDate} ${c.outcome}`)).toEqual([
        "2026-12-20 failed",
      ]);
    } finally {
      held?.destroy();
      await other.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("start() checks at once and on a timer; stop() waits for a check under way", async () => {
    const schedule = new ReconcileSchedule({
      db,
      statements: [statement],
      baseDir: folder.dir,
      checkEveryMs: 20,
      now: () => new Date("2026-12-06T03:00:00+08:00"),
    });
    schedule.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await schedule.stop();
    expect(await new ReconcileStore(db).listRuns({ businessDate: "2026-12-05" })).toHaveLength(1);
  });
});
