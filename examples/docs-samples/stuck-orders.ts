import { type EngineEvent, StuckMonitor, systemClock } from "@capflow/core";
import { KnexStuckStore, knexExclusiveRunner, openStore } from "@capflow/store-knex";

const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();

// Every node may run one: a round runs on one node at a time (a PostgreSQL advisory lock).
const monitor = new StuckMonitor({
  store: new KnexStuckStore(db),
  definitions: db.definitions,
  clock: systemClock,
  exclusive: knexExclusiveRunner(db),
  onEvent: (event: EngineEvent) => {
    // Once per breach, whichever node saw it.
    if (event.type === "instance.stuck") {
      console.log(
        `stuck: ${event.channel}/${event.behavior} ${event.businessKey} at ${event.step}`,
      );
    }
  },
});

const round = await monitor.check(); // or: monitor.run(signal), a round every minute
if (round.ran) {
  console.log(`${round.newlyStuck.length} newly stuck, ${round.resolved} cleared`);
} else {
  // The cluster scans once a minute: this node's round found nothing to do.
  const why = round.skipped === "held" ? "runs one now" : "finished one less than a minute ago";
  console.log(`round skipped: another node ${why}`);
}

// A gauge per channel, behavior and step, for /metrics or a dashboard.
for (const { channel, behavior, step, count } of await monitor.counts()) {
  console.log(
    `capflow_stuck_instances{channel="${channel}",behavior="${behavior}",step="${step}"} ${count}`,
  );
}
await db.close();
