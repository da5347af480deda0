import { createServer } from "node:http";
import {
  callbackRequestListener,
  createDefaultSecretResolver,
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  Worker,
} from "@capflow/core";
import { openStore } from "@capflow/store-knex";

// PostgreSQL with DATABASE_URL, else embedded PGlite; definitions pushed with `capflow push`.
const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
  // Relative `file:` key references resolve against the folder the definitions were pushed from.
  secrets: createDefaultSecretResolver({ baseDir: "examples/lanbank/definitions" }),
});
const worker = new Worker(engine).start();

// The funders' notifications: POST /callbacks/<channel>/<callback>, verified, stored, answered.
createServer(callbackRequestListener(engine)).listen(8080);

// Start business records from your code; the same business key never starts a second one.
export const disburse = (loanNo: string, input: Record<string, unknown>) =>
  engine.start({ channel: "lanbank", behavior: "loan", businessKey: loanNo, input });

process.once("SIGTERM", () => void worker.stop().then(() => db.close()));
