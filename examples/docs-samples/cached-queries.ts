import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type BehaviorDefinition,
  BusinessCalendar,
  CachedQueries,
  type ChannelDefinition,
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  systemClock,
  Worker,
} from "@capflow/core";
import { KnexQueryCacheStore, openStore, pushDefinitions } from "@capflow/store-knex";

const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();

// The funder's repayment trial (还款试算); here a loopback stand-in that counts its calls.
let calls = 0;
const funder = createServer((request, response) => {
  calls++;
  request.resume().on("end", () => response.end(JSON.stringify({ due: "1024.00" })));
});
await new Promise<void>((listening) => funder.listen(0, "127.0.0.1", listening));
const { port } = funder.address() as AddressInfo;

const lanbank: ChannelDefinition = {
  code: "lanbank",
  name: "Lan Bank",
  baseUrl: `http://127.0.0.1:${port}`,
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  calendar: { cutoff: "23:30" }, // answers are kept until the day's cut-off (日切)
  interfaces: { "repay.trial": { method: "POST", path: "/repay/trial", retry: { schedule: [] } } },
};
const trial: BehaviorDefinition = {
  channel: "lanbank",
  code: "repay-trial",
  // Succeeded answers until the cut-off; a failed one is served 30 s, then asked again.
  cache: { key: "input.loanNo", lifetime: "cutoff", failures: "30s" },
  initial: "ask",
  steps: {
    ask: {
      kind: "call",
      interface: "repay.trial",
      request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
      response: { extract: { due: "body.due" } },
      routes: [{ when: "outcome == 'succeeded'", to: "answered" }],
      otherwise: "failed",
      onRetryExhausted: "failed", // an asker is waiting: every path ends
    },
    answered: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
  },
};
await pushDefinitions(db, { channels: [lanbank], behaviors: [trial] });
// One calendar for the engine's calls and the cached queries' cut-offs (give it `holidays` for
// schedules beyond the built-in cn, as `capflow serve --holidays` does).
const calendar = new BusinessCalendar({ definitions: db.definitions });
const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
  calendar,
});
const worker = new Worker(engine).start(); // someone runs the query's call

const queries = new CachedQueries({
  engine,
  definitions: db.definitions,
  store: new KnexQueryCacheStore(db), // shared by every node
  clock: systemClock,
  calendar,
});
// A peak: 20 trial requests for 2 loans at once.
const answers = await Promise.all(
  Array.from({ length: 20 }, (_, i) =>
    queries.query(
      {
        channel: "lanbank",
        behavior: "repay-trial",
        businessKey: "query",
        input: { loanNo: `L-${i % 2}` },
      },
      { timeoutMs: 10_000 }, // then QUERY_TIMEOUT; an open breaker answers CIRCUIT_OPEN at once
    ),
  ),
);
const { value, expiresAt } = answers[0]!;
console.log(
  `${value.status}: ${JSON.stringify(value.context.ask)} until ${new Date(expiresAt).toISOString()}`,
);
console.log(
  `20 requests, ${answers.filter((a) => a.cached).length} from the cache; the funder called ${calls}×`,
);

await worker.stop();
funder.close();
await db.close();
