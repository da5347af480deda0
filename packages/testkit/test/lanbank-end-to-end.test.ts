import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  codecFor,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  type InstanceRecord,
  isSettled,
  loadDefinitionsOrThrow,
  MemoryDefinitionSource,
  MemoryInstanceStore,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { afterEach, describe, expect, it } from "vitest";
import partnerFile from "../../../examples/lanbank/keys/partner.crypto.json" with { type: "json" };
import {
  byField,
  createFunderCryptoHandler,
  type FaultRule,
  type MockFunder,
  type PartnerKeySet,
  startMockFunder,
  withCallbacks,
} from "../src/index.ts";

/**
 * The engine against the mock funder, with the Lan Bank example's definitions and crypto: the
 * disbursement must happen exactly once per loan whatever the funder does.
 */
const definitionsDir = fileURLToPath(
  new URL("../../../examples/lanbank/definitions/", import.meta.url),
);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface World {
  engine: Engine;
  funder: MockFunder;
}

/**
 * Recovery by resending: the apply interface declares that the bank deduplicates by our serial,
 * the query answers "no such order" (3004), and the query's `onNotReceived` resends on it.
 */
interface ResendRecovery {
  maxResends?: number;
}

/** Lan Bank's loan answers: PROCESSING on apply, then the result by callback, and on query. */
async function lanbankWorld(
  faults: readonly FaultRule[],
  recovery?: ResendRecovery,
): Promise<World> {
  const { channels, behaviors } = await loadDefinitionsOrThrow(definitionsDir);
  const channel = channels.find((candidate) => candidate.code === "lanbank") as ChannelDefinition;

  const funder = await startMockFunder({
    handler: await createFunderCryptoHandler(channel.crypto, partnerFile.keys as PartnerKeySet, {
      secrets: createDefaultSecretResolver(),
      baseDir: definitionsDir,
    }),
    codec: codecFor("json"),
    businessKey: byField("outOrderNo"),
    callbacks: { attempts: 5, intervalMs: 50 },
    endpoints: {
      "POST /loan/apply": {
        answer: withCallbacks(
          (call) => ({
            body: {
              respCode: "0000",
              respMsg: "accepted",
              data: { loanNo: `B-${call.businessKey}` },
            },
          }),
          (call) => ({
            delayMs: 100,
            body: {
              notifyNo: `N-${call.businessKey}`,
              bizData: {
                outOrderNo: call.businessKey,
                loanNo: `B-${call.businessKey}`,
                loanStatus: "SUCCESS",
                loanTime: "20260115103000",
              },
            },
          }),
        ),
        faults,
      },
      "POST /loan/query": {
        answer: (call) => ({
          body: recovery
            ? { respCode: "3004", respMsg: "order does not exist" }
            : {
                respCode: "0000",
                data: {
                  loanNo: `B-${call.businessKey}`,
                  loanStatus: "SUCCESS",
                  loanTime: "20260115103000",
                },
              },
        }),
      },
    },
  });
  cleanups.push(() => funder.close());

  // The engine's callback endpoint: what a host service exposes to the funder.
  let engine: Engine | undefined;
  const callbackServer: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const ack = await engine!.receiveCallback("lanbank", "loan.result", {
        method: request.method ?? "POST",
        path: request.url ?? "/",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      response.writeHead(ack.status, ack.headers).end(ack.body);
    });
  });
  await new Promise<void>((resolve) => callbackServer.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        callbackServer.closeAllConnections();
        callbackServer.close(() => resolve());
      }),
  );
  funder.setCallbackUrl(
    `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callbacks/lanbank/loan.result`,
  );

  // Point the channel at the mock, with test-sized timeouts and poll schedule.
  const testChannel: ChannelDefinition = {
    ...channel,
    baseUrl: funder.url,
    interfaces: Object.fromEntries(
      Object.entries(channel.interfaces).map(([name, definition]) => [
        name,
        {
          ...definition,
          timeout: "300ms",
          ...(recovery && name === "loan.apply"
            ? { deduplicatesSerial: { grace: "50ms", ...recovery } }
            : {}),
        },
      ]),
    ),
  };
  const loan = behaviors.find((behavior) => behavior.code === "loan") as BehaviorDefinition;
  const query = loan.steps.query;
  if (query?.kind !== "poll") throw new Error("the Lan Bank loan behavior has no query poll");
  const testLoan: BehaviorDefinition = {
    ...loan,
    steps: {
      ...loan.steps,
      query: {
        ...query,
        schedule: ["50ms", "50ms", "100ms", "200ms"],
        ...(recovery ? { onNotReceived: { when: 'code == "3004"', resend: "apply" } } : {}),
      },
    },
  };
  const processors = registerBuiltinProcessors(new ProcessorRegistry());
  engine = createEngine({
    store: new MemoryInstanceStore(),
    definitions: new MemoryDefinitionSource({
      channels: [testChannel],
      behaviors: [testLoan],
      baseDir: definitionsDir,
    }),
    processors,
  });
  const started = engine;
  cleanups.push(() => started.close());
  return { engine, funder };
}

async function disburse(world: World, loanNo: string, timeout = 5_000): Promise<InstanceRecord> {
  const instance = await world.engine.start({
    channel: "lanbank",
    behavior: "loan",
    businessKey: loanNo,
    input: {
      loanNo,
      creditNo: "C-1",
      amount: "1250.00",
      termMonths: 12,
      purpose: "CONSUMPTION",
      customer: {
        name: "张三",
        idNo: "110101199003077777",
        mobile: "13800138000",
        bankCardNo: "6222020200112233445",
        bankCode: "ICBC",
      },
    },
  });
  let current: InstanceRecord | undefined;
  await expect
    .poll(
      async () => {
        await world.engine.runDue();
        current = await world.engine.getInstance(instance.id);
        return current !== undefined && isSettled(current.status);
      },
      { message: `loan ${loanNo} did not settle`, interval: 20, timeout },
    )
    .toBe(true);
  return current!;
}

describe("the engine against the mock funder (Lan Bank example)", () => {
  it("disburses once when the funder answers and notifies", async () => {
    const world = await lanbankWorld([]);
    expect(await disburse(world, "L1")).toMatchObject({ status: "succeeded", step: "disbursed" });
    expect(world.funder.countBy("L1", { path: "/loan/apply" })).toBe(1);
  });

  it.each([
    ["timeoutAfterProcessing", { kind: "timeoutAfterProcessing" }],
    ["resetAfterProcessing", { kind: "resetAfterProcessing" }],
  ] as const)(
    "%s: the engine queries instead of resending, and disburses once",
    async (_name, fault) => {
      const world = await lanbankWorld([{ fault }]);
      expect(await disburse(world, "L2")).toMatchObject({ status: "succeeded" });
      expect(world.funder.countBy("L2", { path: "/loan/apply" })).toBe(1);
      expect(world.funder.requests({ path: "/loan/apply" })[0]).toMatchObject({
        fault: fault.kind,
        processed: true,
      });
      expect(world.funder.countBy("L2", { path: "/loan/query" })).toBeGreaterThanOrEqual(1);
    },
  );

  it("a bank that keeps failing the apply and knowing no such order gets maxResends resends, then manual review", async () => {
    const world = await lanbankWorld([{ fault: { kind: "resetBeforeProcessing" } }], {
      maxResends: 2,
    });
    const settled = await disburse(world, "L4", 10_000);
    expect(settled).toMatchObject({
      status: "manual",
      step: "manualReview",
      lastError: { code: "RECOVERY_RESENDS_EXHAUSTED" },
    });
    // The first send and two resends, all with the first attempt's serial; none processed.
    const applies = world.funder.requests({ path: "/loan/apply" });
    expect(applies).toHaveLength(3);
    expect(
      new Set(applies.map((call) => (call.body as { reqSerialNo: string }).reqSerialNo)).size,
    ).toBe(1);
    expect(applies.filter((call) => call.processed)).toEqual([]);
    const outcomes = (await world.engine.history(settled.id)).map((entry) => entry.outcome);
    expect(outcomes.filter((outcome) => outcome === "notReceived")).toHaveLength(2);
    expect(outcomes.filter((outcome) => outcome === "resendsExhausted")).toHaveLength(1);
  });

  it("within the budget, a resend the bank finally takes disburses once", async () => {
    const world = await lanbankWorld(
      [{ fault: { kind: "resetBeforeProcessing" }, calls: [1, 2] }],
      {},
    );
    expect(await disburse(world, "L5", 10_000)).toMatchObject({
      status: "succeeded",
      step: "disbursed",
    });
    const applies = world.funder.requests({ path: "/loan/apply" });
    expect(applies).toHaveLength(3);
    expect(applies.filter((call) => call.processed)).toHaveLength(1);
  });

  it("duplicate callbacks are acknowledged every time and applied once", async () => {
    const world = await lanbankWorld([{ fault: { kind: "duplicateCallbacks", copies: 3 } }]);
    expect(await disburse(world, "L3")).toMatchObject({ status: "succeeded" });
    await world.funder.callbacksSettled();
    expect(world.funder.callbackCounts()).toMatchObject({ scheduled: 3, acknowledged: 3 });
    expect(world.funder.countBy("L3", { path: "/loan/apply" })).toBe(1);
  });
});
