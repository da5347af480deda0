import {
  BusinessCalendar,
  CachedQueries,
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  systemClock,
  Worker,
} from "@capflow/core";
import { createServer } from "@capflow/server";
import { KnexIntakeStore, KnexQueryCacheStore, openStore } from "@capflow/store-knex";

// The query behaviors (with their `cache`) and the upstream clients pushed with `capflow push`.
const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();
// One calendar for the engine's calls and the cached queries' cut-offs (give it `holidays` for
// schedules beyond the built-in cn, as `capflow serve --holidays` does).
const calendar = new BusinessCalendar({ definitions: db.definitions });
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
  calendar,
});
const worker = new Worker(engine).start(); // runs the queries' calls, as workers elsewhere may

const app = createServer({
  engine,
  intake: {
    definitions: db.definitions,
    store: new KnexIntakeStore(db.knex, { schema: db.schema }),
    queries: new CachedQueries({
      engine,
      definitions: db.definitions,
      store: new KnexQueryCacheStore(db),
      clock: systemClock,
      calendar,
    }),
    queryTimeoutMs: 10_000, // the default: then 504 QUERY_TIMEOUT, and the run goes on
  },
});
const address = await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8080) });
console.log(`queries: POST ${address}/v1/queries`);

process.once("SIGTERM", async () => {
  await app.close();
  await worker.stop();
  await db.close();
});
