// Begins a run for 2026-12-05 and prints the business date the store reads back, in whatever
// time zone the process was started with (TZ): a date must not move with the reader's zone.

import { openTestPglite, openTestPostgres } from "../../../store-knex/test/support/databases.ts";
import { ReconcileStore } from "../../src/index.ts";

const db =
  process.env.BUSINESS_DATE_DB === "PGlite" ? await openTestPglite() : await openTestPostgres();
try {
  const store = new ReconcileStore(db);
  const { run } = await store.beginRun({
    channel: "lanbank",
    statement: "loan-daily",
    businessDate: "2026-12-05",
    fileDigest: "digest",
    definitionDigest: "definition",
    fileName: "f.csv",
    fileBytes: 1,
    now: new Date("2026-12-06T02:00:00Z"),
    staleAfterMs: 60_000,
  });
  const [listed] = await store.listRuns({ businessDate: "2026-12-05" });
  const read = await store.getRun(run.id);
  console.log(JSON.stringify([run.businessDate, listed?.businessDate, read.businessDate]));
} finally {
  await ("drop" in db ? (db as { drop(): Promise<void> }).drop() : db.close());
}
