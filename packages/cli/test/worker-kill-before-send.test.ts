import { randomUUID } from "node:crypto";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createEngine,
  ProcessorRegistry,
  validateDefinitions,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { afterEach, describe, expect, test } from "vitest";
import { chaosBehavior, chaosChannel } from "../../../chaos/definitions.ts";
import { ChaosFunder, type OrderPlan } from "../../../chaos/funder.ts";
import { SendGate } from "../../../chaos/send-gate.ts";
import { WorkerProcess } from "../../../chaos/workers.ts";

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

/**
 * A real `capflow worker` process SIGKILLed after it recorded its intent to apply and before the
 * funder got the request (a gate holds the connection), then a new worker: the funder counts
 * creates per business number, so a duplicate would show.
 */
describe.skipIf(!databaseUrl || !redisUrl)("a worker killed between intent and send", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  /**
   * The chaos funders' definitions, with quick schedules: `dedupe` declares that the funder
   * deduplicates applies by our serial (the recovery query may resend), `once` does not.
   */
  function definitions(funder: "once" | "dedupe", origin: string) {
    const code = funder === "once" ? "chaos-once" : "chaos-dedupe";
    const channel: ChannelDefinition = chaosChannel(code, origin);
    const apply = channel.interfaces.apply!;
    apply.idempotent = false;
    delete apply.retry;
    apply.timeout = "5s";
    if (funder === "dedupe") apply.deduplicatesSerial = { grace: "200ms" };
    const behavior: BehaviorDefinition = chaosBehavior("chaos-once");
    behavior.channel = code;
    const query = behavior.steps.query;
    if (query?.kind !== "poll") throw new Error("the chaos behavior's query is a poll");
    query.schedule = ["200ms", "200ms", "300ms", "300ms"];
    if (funder === "dedupe") query.onNotReceived = { when: 'code == "3004"', resend: "apply" };
    const { problems } = validateDefinitions({
      channels: [{ file: `${code}.channel.json`, definition: channel }],
      behaviors: [{ file: `${code}.loan.behavior.json`, definition: behavior }],
    });
    expect(problems).toEqual([]);
    return { code, channel, behavior };
  }

  async function killBeforeSend(funder: "once" | "dedupe") {
    const applyNo = `KB-${funder}-${randomUUID().slice(0, 8)}`;
    const plans = new Map<string, OrderPlan>([
      [
        applyNo,
        { channel: `chaos-${funder}`, outcome: "SUCCESS", fault: "none", answersAtOnce: true },
      ],
    ]);
    const chaosFunder = new ChaosFunder(plans, "http://127.0.0.1:9");
    const gate = new SendGate(await chaosFunder.start());
    cleanups.push(() => chaosFunder.close());
    const gateOrigin = await gate.start();
    cleanups.push(() => gate.close());

    const schema = `capflow_killsend_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const db: CapflowDatabase = openPostgresStore({ connectionString: databaseUrl!, schema });
    cleanups.push(async () => {
      await db.knex.raw(`drop schema if exists ?? cascade`, [schema]);
      await db.close();
    });
    await db.migrate();
    const { code, channel, behavior } = definitions(funder, gateOrigin);
    await pushDefinitions(db, { channels: [channel], behaviors: [behavior] });
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
    });
    cleanups.push(() => engine.close());
    const instance = await engine.start({
      channel: code,
      behavior: "loan",
      businessKey: applyNo,
      input: { applyNo, amount: "1000.00" },
    });

    const workerRedis = new URL(redisUrl!);
    workerRedis.pathname = "/12";
    const worker = () =>
      new WorkerProcess(funder, {
        databaseUrl: databaseUrl!,
        schema,
        redisUrl: workerRedis.toString(),
        lease: "2s",
        lockTtl: "2s",
        slots: 2,
        pool: 2,
      });
    const first = worker();
    cleanups.push(() => first.kill());
    first.start();
    // The worker recorded its intent (in_flight) and opened the connection: kill it there.
    await expect.poll(() => gate.held, { timeout: 60_000, interval: 50 }).toBeGreaterThan(0);
    await first.kill();
    expect((await engine.getInstance(instance.id))?.inFlight).toMatchObject({
      step: "apply",
      attempt: 1,
    });
    gate.forward();
    expect(chaosFunder.applies.get(applyNo)).toBeUndefined();

    const second = worker();
    cleanups.push(() => second.terminate());
    second.start();
    await expect
      .poll(async () => (await engine.getInstance(instance.id))?.status, {
        timeout: 60_000,
        interval: 200,
      })
      .toMatch(/^(succeeded|failed|manual|cancelled)$/);
    return {
      settled: (await engine.getInstance(instance.id))!,
      history: await engine.history(instance.id),
      creates: chaosFunder.creates.get(applyNo) ?? 0,
      applies: chaosFunder.applies.get(applyNo) ?? 0,
    };
  }

  test("a funder that deduplicates by serial: the query finds no order, one resend with the same serial, settled", async () => {
    const { settled, history, creates, applies } = await killBeforeSend("dedupe");
    expect(settled).toMatchObject({ status: "succeeded", step: "done" });
    expect(creates).toBe(1);
    expect(applies).toBe(1);
    expect(history.map((entry) => entry.outcome)).toContain("notReceived");
  }, 120_000);

  test("a funder that does not: never resent, manual review", async () => {
    const { settled, creates, applies } = await killBeforeSend("once");
    expect(settled).toMatchObject({ status: "manual", step: "review" });
    expect(creates).toBe(0);
    expect(applies).toBe(0);
  }, 120_000);
});
