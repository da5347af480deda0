import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AlertMonitor,
  type ChannelStartRequest,
  createDefaultSecretResolver,
  type DefinitionSource,
  type Engine,
  type EngineEvent,
  StartQueue,
  StuckMonitor,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexAlertStore,
  KnexStartQueueStore,
  KnexStuckStore,
  knexExclusiveRunner,
} from "@capflow/store-knex";
import type { DemoClock } from "./demo-clock.ts";
import type { ScenarioCase } from "./scenario.ts";

/** The stuck-order limit the demo gives every behavior. */
const demoSla = "2h";

/**
 * After the run, the business protection layer on the same database: a burst of starts queued for
 * one funder (one admitted, the rest expiring unstarted), the admitted instance left unfinished past
 * its stuck-order limit, and the alerts both raise, sent to an operations robot (DingTalk's format,
 * signed) listening on loopback.
 */
export async function runProtectionEpilogue(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  cases: readonly ScenarioCase[];
}): Promise<{ text: string; problems: string[] }> {
  const { db, engine, clock } = parts;
  const robot = await startRobot();
  try {
    const stuckStore = new KnexStuckStore(db);
    const alerts = new AlertMonitor({
      config: {
        rules: [
          { name: "stuck-orders", kind: "stuck", above: 0, severity: "critical" },
          { name: "queued-starts-expired", kind: "raised" },
        ],
        sinks: [
          {
            name: "ops-robot",
            kind: "dingtalk",
            url: `${robot.url}/robot/send?access_token=demo`,
            secret: "inline:demo-secret",
          },
        ],
      },
      store: new KnexAlertStore(db),
      clock,
      stuck: stuckStore,
      secrets: createDefaultSecretResolver({ allowInline: true }),
    });
    const stuckEvents: Extract<EngineEvent, { type: "instance.stuck" }>[] = [];
    const stuck = new StuckMonitor({
      store: stuckStore,
      definitions: withSla(db.definitions, demoSla),
      clock,
      exclusive: knexExclusiveRunner(db),
      onEvent: (event) => {
        if (event.type === "instance.stuck") stuckEvents.push(event);
      },
    });

    // A burst for one funder: admitted one at a time, each may wait ten minutes.
    const sample = parts.cases[0];
    if (!sample) return { text: "", problems: [] };
    const queueStore = new KnexStartQueueStore(db);
    const running = await queueStore.unsettledCount(sample.channel, sample.behavior);
    const queue = new StartQueue({
      store: queueStore,
      engine,
      clock,
      exclusive: knexExclusiveRunner(db),
      policies: [
        {
          channel: sample.channel,
          behavior: sample.behavior,
          ratePerSecond: 5,
          concurrency: running + 1,
          ttl: "10m",
        },
      ],
      alerts,
    });
    for (let i = 1; i <= 3; i += 1) {
      const request: ChannelStartRequest = {
        channel: sample.channel,
        behavior: sample.behavior,
        businessKey: `${sample.key}-BURST-${i}`,
        input: structuredClone(sample.input),
      };
      await queue.enqueue(request);
    }
    const admitted = await queue.admit();
    clock.skipTo(clock.now() + 11 * 60_000);
    const expiredRound = await queue.admit();

    // The admitted instance is never run (the worker has stopped): past its limit, it is stuck.
    clock.skipTo(clock.now() + 2 * 3_600_000 + 60_000);
    const check = await stuck.check();
    const round = await alerts.evaluate();
    await alerts.settled();

    const expired = expiredRound.expired.length;
    const stuckAlerts = round.fired.filter((alert) => alert.rule === "stuck-orders");
    const lines = [
      "",
      "Business protection",
      `  queued starts     ${admitted.started} admitted, ${expired} expired unstarted after 10m in the queue (${sample.channel}/${sample.behavior}, one at a time)`,
      `  stuck orders      ${check.newlyStuck.length} past the ${demoSla} limit (instance.stuck ${stuckEvents.length}×), e.g. ${stuckEvents[0] ? `${stuckEvents[0].channel}/${stuckEvents[0].behavior} ${stuckEvents[0].businessKey} at ${stuckEvents[0].step}` : "none"}`,
      `  alerts            ${stuckAlerts.length} stuck-order, ${expired > 0 ? 1 : 0} queued-starts-expired; ${robot.received.length} messages to the operations robot (DingTalk format, signed)`,
      "",
    ];
    const problems: string[] = [];
    if (expired === 0) problems.push("protection: no queued start expired");
    if (stuckAlerts.length === 0) problems.push("protection: no stuck-order alert was raised");
    if (robot.received.length === 0) problems.push("protection: the operations robot got no alert");
    return { text: lines.join("\n"), problems };
  } finally {
    await robot.close();
  }
}

/** The definitions with a stuck-order limit on every behavior. */
function withSla(definitions: DefinitionSource, sla: string): DefinitionSource {
  const getBehavior: DefinitionSource["getBehavior"] = async (channel, behavior, version) => {
    const loaded = await definitions.getBehavior(channel, behavior, version);
    return loaded && { ...loaded, definition: { ...loaded.definition, sla } };
  };
  return new Proxy(definitions, {
    get(target, property) {
      if (property === "getBehavior") return getBehavior;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A chat robot on loopback that accepts every message, as DingTalk answers. */
async function startRobot(): Promise<{ url: string; received: unknown[]; close(): Promise<void> }> {
  const received: unknown[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      received.push(JSON.parse(body));
      response
        .writeHead(200, { "content-type": "application/json" })
        .end('{"errcode":0,"errmsg":"ok"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
