import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AlertMonitor,
  type AlertsConfig,
  channelCertificateExpiry,
  createEngine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  systemClock,
} from "@capflow/core";
import {
  KnexAlertCountStore,
  KnexAlertStore,
  KnexStuckStore,
  knexExclusiveRunner,
  openStore,
} from "@capflow/store-knex";

const url = process.env.DATABASE_URL;
const db = await openStore(url ? { databaseUrl: url } : { pgliteDir: ".capflow/db" });
await db.migrate();

// The operations group's robot; here a loopback stand-in that prints what DingTalk would show.
const robot = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    console.log(`robot: ${JSON.parse(body).markdown.title}`);
    response.end(JSON.stringify({ errcode: 0, errmsg: "ok" }));
  });
});
await new Promise<void>((listening) => robot.listen(0, "127.0.0.1", listening));
const { port } = robot.address() as AddressInfo;

// Usually a JSON file (`--alerts alerts.json`); the robot's 加签 secret from the environment.
process.env.DINGTALK_SECRET ??= "SEC-example";
const config: AlertsConfig = {
  rules: [
    {
      name: "repayment-failures",
      kind: "failure-rate",
      interface: "repay.apply",
      window: "5m",
      above: 0.2,
    },
    { name: "stuck-orders", kind: "stuck", above: 0, repeatEvery: "1h" },
    { name: "certificates", kind: "certificate-expiry", withinDays: 30 },
    { name: "queued-starts-expired", kind: "raised", clearAfter: "1h" },
  ],
  sinks: [
    {
      name: "ops-dingtalk",
      kind: "dingtalk",
      url: `http://127.0.0.1:${port}/robot/send?access_token=example`,
      secret: "env:DINGTALK_SECRET",
    },
  ],
};

const alerts = new AlertMonitor({
  config,
  store: new KnexAlertStore(db), // deduplicated alerts and their history
  counts: new KnexAlertCountStore(db), // rates over every node
  exclusive: knexExclusiveRunner(db), // one node evaluates at a time
  stuck: new KnexStuckStore(db),
  certificates: channelCertificateExpiry({ definitions: db.definitions, clock: systemClock }),
  clock: systemClock,
  // breakers: openRedis(…).breakers, to see breakers open on any node
});
// The engine reports every call and notification; the monitor counts them.
export const engine = createEngine({
  store: db.instances,
  definitions: db.definitions,
  processors: registerBuiltinProcessors(new ProcessorRegistry()),
  onEvent: (event) => alerts.observe(event),
});

// Other parts raise alerts (the start queue, for starts that expired unstarted).
await alerts.raise("queued-starts-expired", "lanbank/repay", "3 queued starts expired unstarted");
const round = await alerts.evaluate(); // or: void alerts.run(signal), every 30 s
console.log(`rules: ${round.fired.length} fired, ${round.resolved.length} resolved`);
for (const alert of await new KnexAlertStore(db).listAlerts({ status: "firing", limit: 10 })) {
  console.log(`firing: ${alert.rule} ${alert.subject}: ${alert.summary}`);
}
robot.close();
await db.close();
