import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  StartQueue,
  systemClock,
} from "@capflow/core";
import {
  KnexStartQueueStore,
  knexExclusiveRunner,
  openStore,
  pushDefinitions,
} from "@capflow/store-knex";

const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();

// Lan Bank's repayments, which a 9 a.m. peak would flood (as `capflow push` stores them).
const lanbank: ChannelDefinition = {
  code: "lanbank",
  name: "Lan Bank",
  baseUrl: "https://openapi.lanbank.example",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "repay.apply": { method: "POST", path: "/repay/apply" } },
};
const repay: BehaviorDefinition = {
  channel: "lanbank",
  code: "repay",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "repay.apply",
      request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
      routes: [{ when: "outcome == 'succeeded'", to: "repaid" }],
      otherwise: "failed",
    },
    repaid: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
  },
};
await pushDefinitions(db, { channels: [lanbank], behaviors: [repay] });
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
});

const queue = new StartQueue({
  store: new KnexStartQueueStore(db),
  engine,
  definitions: db.definitions, // input checked before queueing; the channel's calendar kept
  clock: systemClock,
  exclusive: knexExclusiveRunner(db), // one node admits at a time
  policies: [
    {
      channel: "lanbank",
      behavior: "repay",
      ratePerSecond: 2,
      concurrency: 200,
      ttl: "2m",
      retryBudget: 3,
    },
  ],
  // alerts, // an AlertMonitor with a `raised` rule named queued-starts-expired
  notifications: true, // tell the upstream client when its start expires or is given up
  onEvent: (event) => console.log(`${event.type}: ${event.queued.businessKey}`),
});

// The peak: five repayments at once. A business key is queued once, ever.
const peak = Date.now().toString(36);
for (let i = 1; i <= 5; i++) {
  await queue.submit({
    channel: "lanbank",
    behavior: "repay",
    businessKey: `R-${peak}-${i}`,
    input: { loanNo: `L-${i}` },
    upstreamClient: "loan-platform", // its notifications go to this client's notify.url
  });
}
const round = await queue.admit(); // or: void queue.run(signal), a round every 200 ms
for (const { channel, behavior, depth } of await queue.depths()) {
  console.log(`${round.started} started now; ${depth} of ${channel}/${behavior} wait their turn`);
}
await db.close();
