import {
  describeInstanceStoreContract,
  describeOutboxContract,
  describeRoutingStoreContract,
  describeStartQueueStoreContract,
} from "@capflow/testkit/contracts";
import { afterAll, beforeAll } from "vitest";
import { type CapflowDatabase, KnexInstanceStore, KnexStartQueueStore } from "../src/index.ts";
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

describeStartQueueStoreContract("KnexStartQueueStore on PGlite (in memory)", async () => {
  await truncateRuntimeTables(db);
  await db.knex.raw(`DELETE FROM "${db.schema}".queued_starts`);
  return {
    store: new KnexStartQueueStore(db),
    instances: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
    close: async () => {},
  };
});
