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
  pushDefinitions,
} from "@capflow/store-knex";
import type { MockFunder } from "@capflow/testkit";
import type { DemoClock } from "./demo-clock.ts";
import { sendForgedCallbacks } from "./forged-callbacks.ts";
import type { FunderProfile } from "./mock-funders.ts";
import { type QueryBurstResult, runQueryBurst } from "./query-burst.ts";
import type { ScenarioCase } from "./scenario.ts";

/** The stuck-order limit the demo gives every behavior. */
const demoSla = "2h";
/** The cached query's burst: this many loans, each asked this many times at once. */
const queryLoans = 4;
const queryRequestsPerLoan = 10;
/** Forged notifications sent to one channel: above the rule's minimum of 10. */
const forgedCallbacks = 12;

/**
 * After the run, the business protection layer on the same database: a peak of cached queries
 * (a repayment trial asked 40 times for 4 loans: the funder called once per loan, its interface
 * held to one call a second, so its limiter refuses calls and raises `limiter-saturated`); forged
 * notifications refused, raising `callbacks-refused`; a burst of starts queued for one funder (one
 * admitted, the rest expiring unstarted); the admitted instance left unfinished past its
 * stuck-order limit; and the alerts all of these raise, sent to an operations robot (DingTalk's
 * format, signed) listening on loopback.
 */
export async function runProtectionEpilogue(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  cases: readonly ScenarioCase[];
  funders: readonly FunderProfile[];
  mocks: ReadonlyMap<string, MockFunder>;
  /** The host's callback endpoint, e.g. `http://127.0.0.1:41234`. */
  callbackUrl: string;
  /** Feeds the engine's events to `listener` until the returned function is called. */
  watchEngine: (listener: (event: EngineEvent) => void) => () => void;
  /** Stop waiting at this `performance.now()` (the demo's `timeoutMs`). */
  deadline?: number;
}): Promise<{ text: string; problems: string[] }> {
  const { db, engine, clock } = parts;
  const robot = await startRobot();
  let stopWatching = () => {};
  try {
    const stuckStore = new KnexStuckStore(db);
    const alertStore = new KnexAlertStore(db);
    // Alerts this run opened: fired at or after this instant of the demo's clock.
    const startedAt = clock.now();
    const alerts = new AlertMonitor({
      config: {
        rules: [
          { name: "stuck-orders", kind: "stuck", above: 0, severity: "critical" },
          { name: "queued-starts-expired", kind: "raised" },
          { name: "query-limiter", kind: "limiter-saturated", for: "1m" },
          { name: "refused-callbacks", kind: "callbacks-refused", window: "10m", above: 0.2 },
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
      store: alertStore,
      clock,
      stuck: stuckStore,
      secrets: createDefaultSecretResolver({ allowInline: true }),
    });
    stopWatching = parts.watchEngine((event) => alerts.observe(event));
    const queries = await runQueries(parts);
    const forged = await forgeCallbacks(parts);
    const firstRound = await alerts.evaluate();

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
    const fired = [...firstRound.fired, ...round.fired];
    const firedOf = (rule: string) => fired.filter((alert) => alert.rule === rule);
    const stuckAlerts = firedOf("stuck-orders");
    // Raised by the queue as each start expired (not by an evaluation): read from the store.
    const expiryAlerts = (await alertStore.listAlerts({ limit: 500 })).filter(
      (alert) => alert.rule === "queued-starts-expired" && alert.firedAt >= startedAt,
    );
    const limiterAlerts = firedOf("query-limiter");
    const callbackAlerts = firedOf("refused-callbacks");
    const problems: string[] = [];
    const lines = [
      "",
      "Business protection",
      `  queued starts     ${admitted.started} admitted, ${expired} expired unstarted after 10m in the queue (${sample.channel}/${sample.behavior}, one at a time)`,
      `  stuck orders      ${check.newlyStuck.length} past the ${demoSla} limit (instance.stuck ${stuckEvents.length}×), e.g. ${stuckEvents[0] ? `${stuckEvents[0].channel}/${stuckEvents[0].behavior} ${stuckEvents[0].businessKey} at ${stuckEvents[0].step}` : "none"}`,
    ];
    if (queries !== undefined) {
      const { burst, channel, behavior, interfaceName } = queries;
      lines.push(
        `  cached queries    ${burst.requests} ${channel}/${behavior} requests for ${burst.keys} loans: the funder called ${burst.funderCalls}×, ${burst.fromCache} answered from the cache (${burst.fromStore} of them later, from the table every node reads)`,
        `  limiter           ${channel} ${interfaceName} held to one call a second: ${queries.refused} calls refused and run later; ${limiterAlerts.length} limiter-saturated alert`,
      );
      if (!burst.finished) problems.push("protection: the cached queries did not finish");
      else {
        if (burst.funderCalls !== burst.keys) {
          problems.push(
            `protection: ${burst.funderCalls} funder calls for ${burst.keys} cached query keys (one each expected)`,
          );
        }
        if (burst.fromCache !== burst.requests - burst.keys || burst.fromStore !== burst.keys) {
          problems.push(
            `protection: ${burst.fromCache} of ${burst.requests} queries answered from the cache (${burst.requests - burst.keys} expected), ${burst.fromStore} from the stored cache (${burst.keys} expected)`,
          );
        }
        if (burst.failed > 0) problems.push(`protection: ${burst.failed} cached queries failed`);
      }
      // One loan asks the funder once: a limit of one call a second then has nothing to hold back.
      if (burst.keys > 1) {
        if (queries.refused === 0) problems.push("protection: the limiter refused no query call");
        if (limiterAlerts.length === 0) {
          problems.push("protection: no limiter-saturated alert was raised");
        }
      }
    }
    if (forged !== undefined) {
      lines.push(
        `  forged callbacks  ${forged.refused} of ${forged.sent} refused (${forged.channel} ${forged.callback}, HTTP ${[...new Set(forged.statuses)].join("/")}), ${forged.stored === 0 ? "nothing" : forged.stored} stored; ${callbackAlerts.length} callbacks-refused alert`,
      );
      if (forged.refused !== forged.sent || forged.stored > 0) {
        problems.push(
          `protection: ${forged.sent - forged.refused} forged callbacks were accepted, ${forged.stored} stored`,
        );
      }
      if (callbackAlerts.length === 0) {
        problems.push("protection: no callbacks-refused alert was raised");
      }
    }
    lines.push(
      `  alerts            ${stuckAlerts.length} stuck-order, ${expiryAlerts.length} queued-starts-expired, ${limiterAlerts.length} limiter-saturated, ${callbackAlerts.length} callbacks-refused; ${robot.received.length} messages to the operations robot (DingTalk format, signed)`,
      "",
    );
    if (expired === 0) problems.push("protection: no queued start expired");
    else if (expiryAlerts.length === 0) {
      problems.push("protection: no queued-starts-expired alert was raised");
    }
    if (stuckAlerts.length === 0) problems.push("protection: no stuck-order alert was raised");
    if (robot.received.length === 0) problems.push("protection: the operations robot got no alert");
    return { text: lines.join("\n"), problems };
  } finally {
    stopWatching();
    await robot.close();
  }
}

/**
 * The burst of cached queries, on the first funder that has one: its interface tightened to one
 * call a second first (pushed like any change of limits, applying at once), so that the calls for
 * different loans queue behind the limiter. Undefined without such a funder.
 */
async function runQueries(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  cases: readonly ScenarioCase[];
  funders: readonly FunderProfile[];
  mocks: ReadonlyMap<string, MockFunder>;
  watchEngine: (listener: (event: EngineEvent) => void) => () => void;
  deadline?: number;
}): Promise<
  | {
      burst: QueryBurstResult;
      channel: string;
      behavior: string;
      interfaceName: string;
      refused: number;
    }
  | undefined
> {
  for (const funder of parts.funders) {
    const query = funder.cachedQuery;
    const mock = parts.mocks.get(funder.channel);
    if (query === undefined || mock === undefined) continue;
    const inputs = parts.cases
      .filter((scenarioCase) => scenarioCase.channel === funder.channel)
      .flatMap((scenarioCase): Record<string, unknown>[] => {
        const input = query.inputFor(scenarioCase);
        return input === undefined ? [] : [input];
      })
      .slice(0, queryLoans);
    const channel = (await parts.db.definitions.getChannel(funder.channel))?.definition;
    const limited = channel?.interfaces[query.interface];
    if (inputs.length === 0 || channel === undefined || limited === undefined) continue;
    await pushDefinitions(parts.db, {
      channels: [
        {
          ...channel,
          interfaces: {
            ...channel.interfaces,
            [query.interface]: { ...limited, rate: { limit: 1, per: "1s" } },
          },
        },
      ],
    });
    // Engines re-read a pushed channel once their clock has moved past their refresh time (1 s).
    parts.clock.skipTo(parts.clock.now() + 5_000);
    let refused = 0;
    const stop = parts.watchEngine((event) => {
      if (
        event.type === "partner.called" &&
        event.channel === funder.channel &&
        event.interface === query.interface &&
        event.outcome === "refused"
      ) {
        refused++;
      }
    });
    try {
      const burst = await runQueryBurst({
        db: parts.db,
        engine: parts.engine,
        clock: parts.clock,
        mock,
        channel: funder.channel,
        behavior: query.behavior,
        inputs,
        perKey: queryRequestsPerLoan,
        deadline: parts.deadline ?? Number.POSITIVE_INFINITY,
      });
      return {
        burst,
        channel: funder.channel,
        behavior: query.behavior,
        interfaceName: query.interface,
        refused,
      };
    } finally {
      stop();
    }
  }
  return undefined;
}

/** Forged notifications to the first channel that takes callbacks. Undefined without one. */
async function forgeCallbacks(parts: {
  db: CapflowDatabase;
  funders: readonly FunderProfile[];
  callbackUrl: string;
  watchEngine: (listener: (event: EngineEvent) => void) => () => void;
}): Promise<
  | {
      channel: string;
      callback: string;
      sent: number;
      refused: number;
      /** Notifications stored in the inbox meanwhile. */
      stored: number;
      statuses: number[];
    }
  | undefined
> {
  for (const funder of parts.funders) {
    const channel = (await parts.db.definitions.getChannel(funder.channel))?.definition;
    const callback = Object.keys(channel?.callbacks ?? {})[0];
    if (callback === undefined) continue;
    let refused = 0;
    const stop = parts.watchEngine((event) => {
      if (event.type === "callback.rejected" && event.channel === funder.channel) refused++;
    });
    try {
      const inboxBefore = await inboxSize(parts.db);
      const statuses = await sendForgedCallbacks({
        callbackUrl: parts.callbackUrl,
        channel: funder.channel,
        callback,
        count: forgedCallbacks,
      });
      const stored = (await inboxSize(parts.db)) - inboxBefore;
      return {
        channel: funder.channel,
        callback,
        sent: statuses.length,
        refused,
        stored,
        statuses,
      };
    } finally {
      stop();
    }
  }
  return undefined;
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

/** Notifications in the inbox, of every channel. */
async function inboxSize(db: CapflowDatabase): Promise<number> {
  const result = (await db.knex.raw(`SELECT count(*)::int AS n FROM "${db.schema}".inbox`)) as {
    rows: { n: number }[];
  };
  return Number(result.rows[0]?.n ?? 0);
}
