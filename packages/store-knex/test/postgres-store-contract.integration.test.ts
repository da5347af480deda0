import {
  describeDefinitionSourceContract,
  describeInstanceStoreContract,
  describeOutboxContract,
  describeRoutingStoreContract,
  describeStartQueueStoreContract,
} from "@capflow/testkit/contracts";
import { afterAll, beforeAll, describe } from "vitest";
import {
  KnexDefinitionSource,
  KnexInstanceStore,
  KnexStartQueueStore,
  pushDefinitions,
} from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateAllTables,
  truncateRuntimeTables,
} from "./support/databases.ts";

describe.skipIf(!databaseUrl)(databaseUrl ? "PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    db = await openTestPostgres();
  });
  afterAll(async () => {
    await db.drop();
  });

  describeInstanceStoreContract("KnexInstanceStore on PostgreSQL", async () => {
    await truncateRuntimeTables(db);
    return {
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      close: async () => {},
    };
  });

  describeRoutingStoreContract("KnexInstanceStore on PostgreSQL", async () => {
    await truncateRuntimeTables(db);
    return {
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      close: async () => {},
    };
  });

  describeOutboxContract("KnexInstanceStore on PostgreSQL", async () => {
    await truncateRuntimeTables(db);
    return {
      store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      close: async () => {},
    };
  });

  describeStartQueueStoreContract("KnexStartQueueStore on PostgreSQL", async () => {
    await truncateRuntimeTables(db);
    await db.knex.raw(`DELETE FROM "${db.schema}".queued_starts`);
    return {
      store: new KnexStartQueueStore(db),
      instances: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
      close: async () => {},
    };
  });

  describeDefinitionSourceContract("KnexDefinitionSource on PostgreSQL", async () => {
    await truncateAllTables(db);
    return {
      source: new KnexDefinitionSource(db.knex, { schema: db.schema, refreshMs: 0 }),
      publish: async (definitions) => {
        await pushDefinitions(db, definitions);
      },
      close: async () => {},
    };
  });
});
