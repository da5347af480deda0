import {
  describeInstanceStoreContract,
  describeOutboxContract,
  describeRoutingStoreContract,
} from "@capflow/testkit/contracts";
import { afterAll, beforeAll } from "vitest";
import { type CapflowDatabase, KnexInstanceStore } from "../src/index.ts";
import { openTestPglite, truncateRuntimeTables } from "./support/databases.ts";

let db: CapflowDatabase;
// Starting PGlite is CPU-bound WebAssembly work: give it room on a busy 2-core CI machine.
beforeAll(async () => {
  db = await openTestPglite();
}, 180_000);
afterAll(async () => {
  await db.close();
});

describeInstanceStoreContract("KnexInstanceStore on PGlite (in memory)", async () => {
  await truncateRuntimeTables(db);
  return {
    store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
    close: async () => {},
  };
});

describeRoutingStoreContract("KnexInstanceStore on PGlite (in memory)", async () => {
  await truncateRuntimeTables(db);
  return {
    store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
    close: async () => {},
  };
});

describeOutboxContract("KnexInstanceStore on PGlite (in memory)", async () => {
  await truncateRuntimeTables(db);
  return {
    store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
    close: async () => {},
  };
});
