import {
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  StartQueue,
  systemClock,
  Worker,
} from "@capflow/core";
import { createServer } from "@capflow/server";
import {
  KnexIntakeStore,
  KnexStartQueueStore,
  knexExclusiveRunner,
  openStore,
} from "@capflow/store-knex";

// The behaviors and the upstream clients pushed with `capflow push`.
const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
});
const worker = new Worker(engine).start();

const queue = new StartQueue({
  store: new KnexStartQueueStore(db),
  engine,
  definitions: db.definitions,
  clock: systemClock,
  exclusive: knexExclusiveRunner(db),
  // The same policies as a `--queues` file: starts of lanbank/repay are queued, others start at once.
  policies: [
    { channel: "lanbank", behavior: "repay", ratePerSecond: 20, concurrency: 200, ttl: "2m" },
  ],
  notifications: true,
});
const app = createServer({
  engine,
  intake: {
    definitions: db.definitions,
    store: new KnexIntakeStore(db.knex, { schema: db.schema }),
    queue, // POST /v1/instances of a queued behavior answers 202 with the queued start
  },
});
const admitting = new AbortController();
const admission = queue.run(admitting.signal); // a round every 200 ms, one node at a time
const address = await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8080) });
console.log(`starts: POST ${address}/v1/instances`);

process.once("SIGTERM", async () => {
  await app.close();
  admitting.abort();
  await admission;
  await worker.stop();
  await db.close();
});
