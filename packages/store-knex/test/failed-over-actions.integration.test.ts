import { afterAll, beforeAll, describe } from "vitest";
import { failedOverScenarios } from "../../core/test/routing/failed-over-scenarios.ts";
import { KnexInstanceStore } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

describe.skipIf(!databaseUrl)(
  databaseUrl ? "operator actions on an instance that failed over (PostgreSQL)" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });
    failedOverScenarios(async () => {
      await truncateRuntimeTables(db);
      return new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target });
    });
  },
);
