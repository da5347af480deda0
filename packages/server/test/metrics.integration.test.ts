import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  type Engine,
  type EngineEvent,
  ManualClock,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CapflowMetrics, createServer, engineEventLog } from "../src/index.ts";
import { databaseUrl, skipMessage } from "./support/test-server.ts";

/** A funder with one idempotent interface answering from a loopback server. */
function acmeChannel(baseUrl: string): ChannelDefinition {
  return {
    code: "acme",
    name: "Acme Bank",
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: { "pay.apply": { method: "POST", path: "/apply", idempotent: true } },
    statusTable: {
      code: "body.status",
      codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
    },
    masking: { fields: { mobile: "phone" } },
  };
}

const payBehavior: BehaviorDefinition = {
  channel: "acme",
  code: "pay",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "pay.apply",
      request: {
        format: "json",
        body: { orderNo: "{{input.orderNo}}", mobile: "{{input.mobile}}" },
      },
      routes: [
        { when: "outcome == 'succeeded'", to: "paid" },
        { when: "outcome == 'failed'", to: "unpaid" },
      ],
    },
    paid: { kind: "terminal", outcome: "succeeded" },
    unpaid: { kind: "terminal", outcome: "failed" },
  },
};

describe.skipIf(!databaseUrl)(databaseUrl ? "/metrics and event logs" : skipMessage, () => {
  let partner: Server;
  let db: CapflowDatabase;
  let engine: Engine;
  let app: FastifyInstance;
  let url: string;
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
  const lines: Record<string, unknown>[] = [];
  let answer = "SUCCESS";
  let partnerUrl: string;
  /** Answers to `/hold` wait for this. */
  let release: () => void = () => {};
  let held: Promise<void> = Promise.resolve();
  let metrics: CapflowMetrics;

  beforeAll(async () => {
    partner = createHttpServer((request, response) => {
      request.resume();
      request.on("end", async () => {
        if (request.url === "/hold") await held;
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ status: answer }));
      });
    });
    partner.listen(0, "127.0.0.1");
    await once(partner, "listening");
    partnerUrl = `http://127.0.0.1:${(partner.address() as AddressInfo).port}`;

    db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
    await db.migrate();
    await pushDefinitions(db, { channels: [acmeChannel(partnerUrl)], behaviors: [payBehavior] });
    metrics = new CapflowMetrics({ store: db.instances });
    let log: (event: EngineEvent) => void = () => {};
    engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
      notifications: true,
      onEvent: (event) => {
        metrics.observeEngine(event);
        log(event);
      },
    });
    app = createServer({
      engine,
      metrics,
      log: { level: "debug", stream: { write: (line) => lines.push(JSON.parse(line)) } },
    });
    log = engineEventLog(app.log);
    await app.listen({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await engine?.close();
    await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    partner?.close();
  });

  let lastText = "";
  async function scrape(): Promise<MetricFamily[]> {
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    lastText = await response.text();
    return parsePrometheusTextFormat(lastText);
  }

  function sample(
    families: MetricFamily[],
    name: string,
    labels: Record<string, string> = {},
  ): MetricFamily["metrics"][number] | undefined {
    return families
      .find((family) => family.name === name)
      ?.metrics.find((metric) =>
        Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value),
      );
  }

  const stepLabels = {
    channel: "acme",
    behavior: "pay",
    kind: "call",
    interface: "pay.apply",
    outcome: "succeeded",
    status: "succeeded",
  };

  test("valid Prometheus text whose counters move with the steps", async () => {
    const before = await scrape();
    expect(sample(before, "capflow_steps_total", stepLabels)).toBeUndefined();
    expect(sample(before, "capflow_instances", { status: "active" })?.value).toBe("0");

    for (const orderNo of ["O-1", "O-2"])
      await engine.start({
        channel: "acme",
        behavior: "pay",
        businessKey: orderNo,
        input: { orderNo, mobile: "13800138000" },
      });
    const started = await scrape();
    expect(sample(started, "capflow_instances", { status: "active" })?.value).toBe("2");
    expect(
      sample(started, "capflow_instances_started_total", { channel: "acme", behavior: "pay" })
        ?.value,
    ).toBe("2");

    await engine.runDue();
    const ran = await scrape();
    expect(sample(ran, "capflow_steps_total", stepLabels)?.value).toBe("2");
    // The parser keeps a histogram's buckets but not its labels: one series exists so far.
    const calls = ran.find((family) => family.name === "capflow_partner_call_duration_seconds");
    expect(calls?.type).toBe("HISTOGRAM");
    expect(calls?.metrics).toHaveLength(1);
    expect(calls?.metrics[0]?.buckets?.["+Inf"]).toBe("2");
    expect(lastText).toContain(
      'capflow_partner_call_duration_seconds_count{channel="acme",interface="pay.apply",outcome="answered"} 2',
    );
    expect(sample(ran, "capflow_instances_settled_total", { status: "succeeded" })?.value).toBe(
      "2",
    );
    expect(sample(ran, "capflow_instances", { status: "active" })?.value).toBe("0");
    // Each settlement wrote a notification nobody delivers here: the outbox backlog shows it.
    expect(sample(ran, "capflow_outbox_notifications", { status: "pending" })?.value).toBe("2");
    expect(Number(sample(ran, "capflow_outbox_oldest_age_seconds")?.value)).toBeGreaterThanOrEqual(
      0,
    );
    expect(sample(ran, "capflow_inbox_pending")?.value).toBe("0");
    expect(sample(ran, "capflow_process_cpu_seconds_total")).toBeDefined();

    answer = "FAIL";
    await engine.start({
      channel: "acme",
      behavior: "pay",
      businessKey: "O-3",
      input: { orderNo: "O-3", mobile: "13800138000" },
    });
    await engine.runDue();
    const failed = await scrape();
    expect(sample(failed, "capflow_steps_total", stepLabels)?.value).toBe("2");
    expect(
      sample(failed, "capflow_steps_total", { ...stepLabels, outcome: "failed", status: "failed" })
        ?.value,
    ).toBe("1");
  });

  test("a product's routing counts where starts went, by which rule, refusals and failovers", async () => {
    const payOver = (channel: string): BehaviorDefinition => ({
      ...payBehavior,
      channel,
      code: "pay-over",
      steps: {
        ...payBehavior.steps,
        unpaid: { kind: "terminal", outcome: "failed", failover: true },
      },
    });
    await pushDefinitions(db, {
      channels: [acmeChannel(partnerUrl), { ...acmeChannel(partnerUrl), code: "north" }],
      behaviors: [payBehavior, payOver("acme"), payOver("north")],
      products: [
        {
          code: "pay-any",
          name: "Pay through any funder",
          failover: {},
          channels: [
            { channel: "acme", behavior: "pay-over", weight: 1, quotas: { total: { count: 1 } } },
            { channel: "north", behavior: "pay-over", weight: 1, quotas: { total: { count: 1 } } },
          ],
        },
      ],
    });
    const start = (orderNo: string) =>
      engine.start({
        product: "pay-any",
        businessKey: orderNo,
        input: { orderNo, mobile: "13800138000" },
      });
    const product = { product: "pay-any" };
    // acme declines R-1: the business fails over to north, which declines it too.
    expect((await start("R-1")).channel).toBe("acme");
    answer = "FAIL";
    while ((await engine.runDue()) > 0) {}
    answer = "SUCCESS";
    const failedOver = await scrape();
    expect(
      sample(failedOver, "capflow_failovers_total", { ...product, from: "acme", to: "north" })
        ?.value,
    ).toBe("1");
    // Both holds were released: take one channel each, R-4 finds both full.
    const next = [(await start("R-2")).channel, (await start("R-3")).channel];
    expect(next.sort()).toEqual(["acme", "north"]);
    await expect(start("R-4")).rejects.toMatchObject({ code: "ROUTING_NO_CHANNEL" });
    const routed = await scrape();
    for (const channel of ["acme", "north"]) {
      expect(
        sample(routed, "capflow_routed_total", {
          ...product,
          channel,
          rule: "weighted-round-robin",
        })?.value,
      ).toBe("2");
      expect(
        sample(routed, "capflow_routing_candidates_total", {
          ...product,
          channel,
          state: "quota-exhausted",
        })?.value,
      ).toBe("1");
    }
    expect(sample(routed, "capflow_routing_refused_total", product)?.value).toBe("1");
    expect(lastText).not.toContain("R-1");
  });

  test("refusals in a row count one each, and the history keeps one entry for them", async () => {
    // One call at a time at this funder: a second is refused while the first is held.
    const busy: ChannelDefinition = {
      ...acmeChannel(partnerUrl),
      code: "busy",
      interfaces: {
        "pay.apply": { method: "POST", path: "/hold", idempotent: true, concurrency: 1 },
      },
    };
    await pushDefinitions(db, {
      channels: [busy],
      behaviors: [{ ...payBehavior, channel: "busy" }],
    });
    const clock = new ManualClock(Date.now());
    const worker = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
      clock,
      onEvent: metrics.observeEngine,
    });
    const labels = { channel: "busy", interface: "pay.apply", reason: "concurrency" };
    expect(sample(await scrape(), "capflow_limiter_waits_total", labels)).toBeUndefined();
    held = new Promise((resolve) => (release = resolve));
    const start = (orderNo: string) =>
      worker.start({
        channel: "busy",
        behavior: "pay",
        businessKey: orderNo,
        input: { orderNo, mobile: "13800138000" },
      });
    const ids = [(await start("B-1")).id, (await start("B-2")).id];
    // Both run at once: one call goes out and is held, the other is refused.
    const first = worker.runDue();
    let refused: string | undefined;
    while (refused === undefined) {
      for (const id of ids) if ((await worker.getInstance(id))?.refusals) refused = id;
    }
    for (let n = 2; n <= 5; n++) {
      await clock.advance(2_000);
      // The refusal is stored a moment before its run lets go of the instance in this process:
      // a claim in that moment takes nothing and changes nothing, so ask until one runs it.
      await expect.poll(() => worker.runDue()).toBe(1);
      expect((await worker.getInstance(refused))?.refusals?.count).toBe(n);
    }
    expect(await worker.history(refused)).toEqual([]);
    expect(sample(await scrape(), "capflow_limiter_waits_total", labels)?.value).toBe("5");

    release();
    await first;
    await clock.advance(2_000);
    expect(await worker.runDue()).toBe(1);
    const done = await worker.getInstance(refused);
    expect(done).toMatchObject({ status: "succeeded", refusals: null });
    const history = await worker.history(refused);
    expect(history[0]).toMatchObject({
      event: "wait",
      outcome: "notAdmitted:concurrency",
      refusals: { count: 5, reasons: { concurrency: 5 } },
      durationMs: 8_000,
    });
    expect(history.at(-1)).toMatchObject({ event: "call", toStep: "paid" });
    const versions = history.map((entry) => entry.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(versions.at(-1)).toBe(done?.version);
    expect(sample(await scrape(), "capflow_limiter_waits_total", labels)?.value).toBe("5");
    await worker.close();
  });

  test("engine events are logged as structured lines, without the instances' data", async () => {
    const events = lines.filter((line) => typeof line.event === "string");
    expect(events.map((line) => line.event)).toEqual(
      expect.arrayContaining([
        "instance.started",
        "partner.called",
        "step.finished",
        "instance.settled",
      ]),
    );
    const finished = events.find((line) => line.event === "step.finished");
    expect(finished).toMatchObject({
      level: 20,
      channel: "acme",
      interface: "pay.apply",
      outcome: "succeeded",
    });
    expect(JSON.stringify(lines)).not.toContain("13800138000");
  });
});
