import { createServer } from "node:http";
import {
  callbackRequestListener,
  createDefaultSecretResolver,
  createEngine,
  type EngineEvent,
  loadDefinitionsOrThrow,
  ProcessorRegistry,
  registerBuiltinProcessors,
  Worker,
} from "@capflow/core";
import { openStore, pushDefinitions, syncProcessors } from "@capflow/store-knex";
import { registerProcessors } from "./my-processors.ts";

// 1. The store: PostgreSQL in production, embedded PGlite (a folder) on a laptop.
const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate(); // creates or updates capflow's tables; safe when several nodes start at once

// 2. Processors: the built-in ones and yours, recorded in the store for authoring tools.
const processors = registerBuiltinProcessors(new ProcessorRegistry());
registerProcessors(processors);
await syncProcessors(db, processors.list());

// 3. Definitions: validated from a folder and pushed (what `capflow push <dir>` does). A behavior
//    gets a new version only when it changed; running instances stay on theirs.
const definitionsDir = "examples/lanbank/definitions";
await pushDefinitions(db, await loadDefinitionsOrThrow(definitionsDir, { processors }));

// 4. The engine, reading definitions from the store, telling you what happens.
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors,
  // Relative `file:` key references of the channels resolve against their definitions folder.
  secrets: createDefaultSecretResolver({ baseDir: definitionsDir }),
  onEvent: (event: EngineEvent) => {
    if (event.type === "instance.settled") console.log(event.instanceId, event.status);
    if (event.type === "instance.attention") console.warn("needs an operator:", event);
  },
});

// 5. Callbacks: POST /callbacks/<channel>/<callback> is verified, stored in the inbox
//    (deduplicated), wakes its instance, and is acknowledged in the form the funder expects, every
//    time it arrives. Mount the listener on your server, or route to it from your framework.
const server = createServer(callbackRequestListener(engine));
server.listen(8080);

// 6. Workers: claim due instances and run their steps. Run as many processes as you like.
const worker = new Worker(engine, { concurrency: 2, batchSize: 16 }).start();

// 7. Start business records from your own code (an API handler, a queue consumer …).
export async function disburse(loanNo: string, amount: string, customer: Record<string, string>) {
  return engine.start({
    channel: "lanbank",
    behavior: "loan",
    businessKey: loanNo, // the same key returns the same instance: never a second disbursement
    input: {
      loanNo,
      creditNo: `C-${loanNo}`,
      amount,
      termMonths: 12,
      purpose: "CONSUMPTION",
      customer,
    },
  });
}

// 8. Stop gracefully: steps in flight finish and commit; claimed instances go back to the queue.
process.once("SIGTERM", async () => {
  server.close();
  await worker.stop();
  await engine.close();
  await db.close();
});
