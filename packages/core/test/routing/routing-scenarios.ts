import { createHash, createHmac } from "node:crypto";
import { expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { ProductDefinition } from "../../src/definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { createEngine, type Engine } from "../../src/engine/engine.ts";
import type { EngineEvent } from "../../src/engine/engine-events.ts";
import { failoverSuccession, previewFailedOver } from "../../src/engine/failover-successor.ts";
import { previewOperatorAction } from "../../src/engine/operator-action-preview.ts";
import { CapflowError, isCapflowError } from "../../src/errors.ts";
import { ManualClock } from "../../src/memory/manual-clock.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { registerBuiltinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { InstanceRecord, InstanceStore } from "../../src/ports/instance-store.ts";
import { previewReopenedQuotas } from "../../src/routing/reopened-quotas.ts";
import { creditBehavior, funderChannel, loanBehavior, product } from "./fixtures.ts";
import { ScriptedTransport } from "./scripted-transport.ts";

/** Answers per channel host: `code` 0 succeeded, 1 failed, 2 processing; "timeout" throws. */
type Script = Record<string, (path: string) => "0" | "1" | "2" | "timeout">;

export interface RoutingWorld {
  engine: Engine;
  store: InstanceStore;
  clock: ManualClock;
  events: EngineEvent[];
  transport: ScriptedTransport;
  runAll(): Promise<void>;
}

/** An engine over `store` with the given definitions, funders answering by `script`. */
export function routingWorld(
  store: InstanceStore,
  definitions: {
    channels: ChannelDefinition[];
    behaviors: BehaviorDefinition[];
    products: ProductDefinition[];
  },
  script: Script = {},
): RoutingWorld {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 2, 0, 0));
  const events: EngineEvent[] = [];
  const transport = new ScriptedTransport((_request, path) => {
    const host = new URL(_request.url).hostname.split(".")[0] ?? "";
    const answer = script[host]?.(path) ?? "0";
    if (answer === "timeout") {
      throw new CapflowError("TRANSPORT_UNKNOWN_OUTCOME", "timed out after sending");
    }
    return { code: answer };
  });
  const engine = createEngine({
    store,
    definitions: new MemoryDefinitionSource(definitions),
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
    transport,
    clock,
    secrets: createDefaultSecretResolver({ allowInline: true }),
    onEvent: (event) => events.push(event),
  });
  return {
    engine,
    store,
    clock,
    events,
    transport,
    async runAll() {
      for (let round = 0; round < 20; round++) {
        const ran = await engine.runDue({ limit: 50 });
        if (ran === 0) {
          clock.advance(60_000);
          if ((await engine.runDue({ limit: 50 })) === 0) return;
        }
      }
    },
  };
}

/** Funders on distinct hosts, so the script can tell them apart. */
export function funder(code: string, extra: Partial<ChannelDefinition> = {}): ChannelDefinition {
  return funderChannel(code, { baseUrl: `http://${code}.test`, ...extra });
}

/**
 * The routing rules every store must support, end to end through the engine: run by core's tests
 * on the memory store and by store-knex's on PostgreSQL.
 */
export function routingScenarios(open: () => Promise<InstanceStore>): void {
  test("a declined credit application fails over to the next eligible channel, carrying its input", async () => {
    const store = await open();
    const world = routingWorld(
      store,
      {
        channels: [funder("lanbank"), funder("meadow"), funder("jade")],
        behaviors: [creditBehavior("lanbank"), creditBehavior("meadow"), creditBehavior("jade")],
        products: [
          product(
            [
              {
                channel: "lanbank",
                behavior: "credit",
                weight: 100,
                quotas: { daily: { count: 10 } },
              },
              { channel: "meadow", behavior: "credit", weight: 1, when: "input.age >= 22" },
              { channel: "jade", behavior: "credit", weight: 1, when: "input.age >= 60" },
            ],
            {
              code: "credit-line",
              failover: {},
              amount: undefined,
            } as unknown as Partial<ProductDefinition>,
          ),
        ],
      },
      { lanbank: () => "1", meadow: () => "0" },
    );
    const input = { applicationNo: "A-1", age: 30 };
    const first = await world.engine.start({ product: "credit-line", businessKey: "A-1", input });
    expect(first.channel).toBe("lanbank");
    await world.runAll();
    const chain = await store.listInstances({ product: "credit-line", businessKey: "A-1" });
    expect(chain.map((i) => [i.channel, i.status, i.step])).toEqual([
      ["lanbank", "failed", "declined"],
      ["meadow", "succeeded", "approved"],
    ]);
    const next = chain[1]!;
    expect(next.failoverOf).toBe(first.id);
    expect(next.input).toEqual(input);
    expect(next.routing?.failover).toEqual({ of: first.id, tried: ["lanbank"] });
    expect(next.routing?.candidates.map((c) => [c.channel, c.state])).toEqual([
      ["lanbank", "tried"],
      ["meadow", "chosen"],
      ["jade", "ineligible"],
    ]);
    expect(await store.quotaHolds(first.id)).toMatchObject([{ state: "released" }]);
    expect(world.events).toContainEqual(
      expect.objectContaining({ type: "instance.failed-over", instanceId: first.id, to: next.id }),
    );
    // The same business started again: its newest instance, no new routing.
    const again = await world.engine.start({ product: "credit-line", businessKey: "A-1", input });
    expect(again.id).toBe(next.id);
    // Declined everywhere: the business ends failed on its last channel, no further instance.
    const declined = routingWorld(
      store,
      {
        channels: [funder("lanbank"), funder("meadow"), funder("jade")],
        behaviors: [creditBehavior("lanbank"), creditBehavior("meadow"), creditBehavior("jade")],
        products: [
          product(
            [
              { channel: "lanbank", behavior: "credit", weight: 1 },
              { channel: "meadow", behavior: "credit", weight: 1 },
            ],
            { code: "credit-2", failover: {} },
          ),
        ],
      },
      { lanbank: () => "1", meadow: () => "1" },
    );
    await declined.engine.start({
      product: "credit-2",
      businessKey: "A-2",
      input: { applicationNo: "A-2", amount: "1" },
    });
    await declined.runAll();
    const ended = await store.listInstances({ product: "credit-2", businessKey: "A-2" });
    expect(ended.map((i) => i.status)).toEqual(["failed", "failed"]);
  });

  test("one business key, one loan: a key on one of the product's channels refuses the start instead of routing elsewhere", async () => {
    const store = await open();
    const definitions = {
      channels: [funder("lanbank"), funder("meadow"), funder("jade")],
      behaviors: [loanBehavior("lanbank"), loanBehavior("meadow"), loanBehavior("jade")],
      products: [
        product([
          { channel: "lanbank", behavior: "loan", weight: 1000 },
          { channel: "meadow", behavior: "loan", weight: 1 },
        ]),
        product([{ channel: "jade", behavior: "loan", weight: 1 }], { code: "jade-loan" }),
      ],
    };
    const world = routingWorld(store, definitions);
    const input = (no: string) => ({ loanNo: no, amount: "100.00" });
    const refusal = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);
    // Started directly on the channel the product would choose: refused, not sent to meadow.
    const direct = await world.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "K-1",
      input: input("K-1"),
    });
    const refused = await refusal(
      world.engine.start({ product: "cash-loan", businessKey: "K-1", input: input("K-1") }),
    );
    expect(isCapflowError(refused, "BUSINESS_KEY_TAKEN")).toBe(true);
    expect((refused as CapflowError).message).toContain(`instance ${direct.id} on lanbank/loan`);
    // On a channel the weights would not choose first: refused all the same.
    await world.engine.start({
      channel: "meadow",
      behavior: "loan",
      businessKey: "K-2",
      input: input("K-2"),
    });
    const second = await refusal(
      world.engine.start({ product: "cash-loan", businessKey: "K-2", input: input("K-2") }),
    );
    expect(isCapflowError(second, "BUSINESS_KEY_TAKEN")).toBe(true);
    for (const key of ["K-1", "K-2"]) {
      expect(await store.findProductInstance({ product: "cash-loan", businessKey: key })).toBe(
        undefined,
      );
    }
    // The product first: the same start again is its instance; a channel start of the key on
    // another of its channels is refused, on its own channel it is that instance.
    const routed = await world.engine.start({
      product: "cash-loan",
      businessKey: "K-3",
      input: input("K-3"),
    });
    expect(routed.channel).toBe("lanbank");
    const retried = await world.engine.start({
      product: "cash-loan",
      businessKey: "K-3",
      input: input("K-3"),
    });
    expect(retried.id).toBe(routed.id);
    const elsewhere = await refusal(
      world.engine.start({
        channel: "meadow",
        behavior: "loan",
        businessKey: "K-3",
        input: input("K-3"),
      }),
    );
    expect(isCapflowError(elsewhere, "BUSINESS_KEY_TAKEN")).toBe(true);
    const same = await world.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "K-3",
      input: input("K-3"),
    });
    expect(same.id).toBe(routed.id);
    // A channel no product lists takes any key.
    const jadeOnly = routingWorld(store, { ...definitions, products: [definitions.products[0]!] });
    const free = await jadeOnly.engine.start({
      channel: "jade",
      behavior: "loan",
      businessKey: "K-3",
      input: input("K-3"),
    });
    expect(free.channel).toBe("jade");
    // Another product's key on its channel refuses the product listing it.
    const jade = await refusal(
      world.engine.start({ product: "jade-loan", businessKey: "K-3", input: input("K-3") }),
    );
    expect(isCapflowError(jade, "BUSINESS_KEY_TAKEN")).toBe(true);
    await world.runAll();
    expect(world.transport.sent.filter((s) => s.channel === "meadow.test")).toHaveLength(1);
  });

  test("one business key, one loan whatever the behavior: a key started under a behavior the product does not list still holds its channel", async () => {
    const store = await open();
    const world = routingWorld(store, {
      channels: [funder("lanbank"), funder("meadow")],
      behaviors: [
        loanBehavior("lanbank"),
        loanBehavior("meadow"),
        creditBehavior("lanbank"),
        creditBehavior("meadow"),
      ],
      products: [
        product([
          { channel: "lanbank", behavior: "loan", weight: 1000 },
          { channel: "meadow", behavior: "loan", weight: 1 },
        ]),
      ],
    });
    const input = (no: string) => ({ loanNo: no, applicationNo: no, amount: "100.00" });
    const refusal = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);
    // Started on meadow under credit, which the product does not list: the product refuses it.
    const credit = await world.engine.start({
      channel: "meadow",
      behavior: "credit",
      businessKey: "K-1",
      input: input("K-1"),
    });
    const refused = await refusal(
      world.engine.start({ product: "cash-loan", businessKey: "K-1", input: input("K-1") }),
    );
    expect(isCapflowError(refused, "BUSINESS_KEY_TAKEN")).toBe(true);
    expect((refused as CapflowError).message).toContain(`instance ${credit.id} on meadow/credit`);
    expect(await store.findProductInstance({ product: "cash-loan", businessKey: "K-1" })).toBe(
      undefined,
    );
    // The product first: a channel start of its key under another behavior, on its own channel
    // or another of its channels, is refused.
    const routed = await world.engine.start({
      product: "cash-loan",
      businessKey: "K-2",
      input: input("K-2"),
    });
    expect(routed.channel).toBe("lanbank");
    for (const channel of ["lanbank", "meadow"]) {
      const direct = await refusal(
        world.engine.start({
          channel,
          behavior: "credit",
          businessKey: "K-2",
          input: input("K-2"),
        }),
      );
      expect(isCapflowError(direct, "BUSINESS_KEY_TAKEN"), channel).toBe(true);
      expect(await store.findInstance({ channel, behavior: "credit", businessKey: "K-2" })).toBe(
        undefined,
      );
    }
  });

  test("a failover never goes elsewhere when the business key is held on a channel of the product: the instance is parked", async () => {
    const store = await open();
    const definitions = {
      channels: [funder("lanbank"), funder("meadow")],
      behaviors: [creditBehavior("lanbank"), creditBehavior("meadow")],
      products: [
        product(
          [
            {
              channel: "lanbank",
              behavior: "credit",
              weight: 100,
              quotas: { daily: { count: 5 } },
            },
            { channel: "meadow", behavior: "credit", weight: 1 },
          ],
          {
            code: "credit-line",
            failover: {},
            amount: undefined,
          } as unknown as Partial<ProductDefinition>,
        ),
      ],
    };
    const world = routingWorld(store, definitions, { lanbank: () => "1", meadow: () => "0" });
    const input = { applicationNo: "A-7" };
    const first = await world.engine.start({ product: "credit-line", businessKey: "A-7", input });
    // Meadow gets the key directly while the product did not list it yet.
    const before = routingWorld(store, { ...definitions, products: [] });
    await before.engine.start({ channel: "meadow", behavior: "credit", businessKey: "A-7", input });
    await world.runAll();
    const chain = await store.listInstances({ product: "credit-line", businessKey: "A-7" });
    expect(chain.map((i) => [i.channel, i.status, i.step])).toEqual([
      ["lanbank", "manual", "declined"],
    ]);
    expect(chain[0]).toMatchObject({ nextRunAt: null, lastError: { code: "BUSINESS_KEY_TAKEN" } });
    expect(world.transport.sent.filter((s) => s.channel === "lanbank.test")).toHaveLength(1);
    // Meadow hears only from its own instance of the key.
    expect(world.transport.sent.filter((s) => s.channel === "meadow.test")).toHaveLength(1);
    expect(await store.quotaHolds(first.id)).toMatchObject([{ state: "reserved" }]);
    expect(world.events).toContainEqual(
      expect.objectContaining({
        type: "instance.attention",
        instanceId: first.id,
        step: "declined",
        code: "BUSINESS_KEY_TAKEN",
      }),
    );
    expect(world.events).toContainEqual(
      expect.objectContaining({ type: "step.finished", instanceId: first.id, status: "manual" }),
    );
    expect(world.events.some((e) => e.type === "instance.failed-over")).toBe(false);
  });

  test("a failover keeps the customer its start accepted, even after the product's customer expression is edited", async () => {
    const store = await open();
    const meadow = funder("meadow", {
      accountSelection: "alternate",
      accounts: {
        "shop-a": { values: {}, quotas: { credit: { daily: { count: 5 } } } },
        "shop-b": { values: {}, quotas: { credit: { daily: { count: 5 } } } },
      },
    });
    const definitions = (customer: string) => ({
      channels: [funder("lanbank"), meadow],
      behaviors: [creditBehavior("lanbank"), creditBehavior("meadow")],
      products: [
        product(
          [
            { channel: "lanbank", behavior: "credit", weight: 100 },
            { channel: "meadow", behavior: "credit", weight: 1 },
          ],
          {
            code: "credit-line",
            failover: {},
            amount: undefined,
            customer,
          } as unknown as Partial<ProductDefinition>,
        ),
      ],
    });
    const script = { lanbank: () => "1" as const, meadow: () => "0" as const };
    const accepted = routingWorld(store, definitions("input.customerId"), script);
    const customerRef = createHash("sha256").update("C-1").digest("hex");
    // Each business of customer C-1 starts under the product as accepted, then fails over under
    // it, under a customer expression that reads another field, and under one that fails.
    const failOverUnder = async (key: string, customer: string) => {
      const started = await accepted.engine.start({
        product: "credit-line",
        businessKey: key,
        input: { applicationNo: key, customerId: "C-1" },
      });
      expect(started).toMatchObject({ channel: "lanbank", customerRef });
      const edited = routingWorld(store, definitions(customer), script);
      await edited.runAll();
      const chain = await store.listInstances({ product: "credit-line", businessKey: key });
      expect(
        chain.map((i) => [i.channel, i.status, i.customerRef]),
        customer,
      ).toEqual([
        ["lanbank", "failed", customerRef],
        ["meadow", "succeeded", customerRef],
      ]);
      return chain[1]!;
    };
    const one = await failOverUnder("A-1", "input.customerId");
    const two = await failOverUnder("A-2", "input.applicationNo");
    const three = await failOverUnder("A-3", "int(input.applicationNo)");
    // The accounts alternate for the original customer: its account quotas count its businesses.
    expect(two.account).not.toBe(one.account);
    expect(three.account).toBe(one.account);
    const usage = await store.quotaUsage(
      ["shop-a", "shop-b"].map((account) => ({
        scope: `account:meadow/${account}/credit`,
        period: "2026-01-05",
      })),
    );
    const counted = Object.fromEntries(usage.map((u) => [u.scope, u.usedCount]));
    expect(counted).toEqual({
      [`account:meadow/${one.account}/credit`]: 2,
      [`account:meadow/${two.account}/credit`]: 1,
    });
    expect(await store.lastCustomerInstance({ customerRef, channel: "meadow" })).toMatchObject({
      id: three.id,
    });
  });

  test("a failover skips a channel that cannot take the business, and parks on the product's own fault without calling again", async () => {
    const store = await open();
    const schemaChecked: BehaviorDefinition = {
      ...creditBehavior("jade"),
      inputSchema: {
        type: "object",
        required: ["age"],
        properties: { age: { type: "integer", minimum: 60 } },
      },
    };
    const channels = [
      funder("lanbank"),
      funder("meadow", { accounts: { "shop-a": { when: "input.shopId == 'A'", values: {} } } }),
      funder("jade"),
      funder("pine"),
    ];
    const behaviors = ["lanbank", "meadow", "pine"].map((c) => creditBehavior(c));
    const credit = () =>
      product(
        [
          { channel: "lanbank", behavior: "credit", weight: 1000, quotas: { daily: { count: 5 } } },
          { channel: "meadow", behavior: "credit", weight: 100 },
          { channel: "jade", behavior: "credit", weight: 10 },
          { channel: "pine", behavior: "credit", weight: 1 },
        ],
        {
          code: "credit-line",
          failover: {},
          amount: "input.amount",
        },
      );
    const world = routingWorld(
      store,
      { channels, behaviors: [...behaviors, schemaChecked], products: [credit()] },
      { lanbank: () => "1" },
    );
    const input = { applicationNo: "A-8", shopId: "B", age: 30, amount: "10.00" };
    const first = await world.engine.start({ product: "credit-line", businessKey: "A-8", input });
    expect(first.channel).toBe("lanbank");
    await world.runAll();
    const chain = await store.listInstances({ product: "credit-line", businessKey: "A-8" });
    expect(chain.map((i) => [i.channel, i.status])).toEqual([
      ["lanbank", "failed"],
      ["pine", "succeeded"],
    ]);
    const candidates = chain[1]!.routing!.candidates;
    expect(candidates.find((c) => c.channel === "meadow")).toMatchObject({
      state: "ineligible",
      reason: expect.stringContaining("no account of channel meadow serves this input"),
    });
    expect(candidates.find((c) => c.channel === "jade")).toMatchObject({
      state: "ineligible",
      reason: expect.stringContaining("input schema of jade/credit"),
    });

    // The product removed live. The failover cannot be planned: the instance parks at its
    // failover step, and the call is not made again.
    const started = await world.engine.start({
      product: "credit-line",
      businessKey: "A-9",
      input: { ...input, applicationNo: "A-9" },
    });
    const edited = routingWorld(
      store,
      {
        channels,
        behaviors: [...behaviors, schemaChecked],
        products: [],
      },
      { lanbank: () => "1" },
    );
    await edited.runAll();
    edited.clock.advance(10 * 60_000);
    await edited.runAll();
    const parked = await store.getInstance(started.id);
    expect(parked).toMatchObject({
      step: "declined",
      status: "manual",
      nextRunAt: null,
      inFlight: null,
      lastError: { code: "DEFINITION_NOT_FOUND" },
    });
    const calls = edited.transport.sent.filter((s) => s.body.includes("A-9"));
    expect(calls).toHaveLength(1);
    expect(await store.listInstances({ product: "credit-line", businessKey: "A-9" })).toHaveLength(
      1,
    );
    expect(await store.quotaHolds(started.id)).toMatchObject([{ state: "reserved" }]);
  });

  test("amounts: only a plain decimal within the product's scale starts; anything else is refused and nothing is stored", async () => {
    const store = await open();
    const world = routingWorld(store, {
      channels: [funder("lanbank")],
      behaviors: [loanBehavior("lanbank")],
      products: [
        product([
          {
            channel: "lanbank",
            behavior: "loan",
            weight: 1,
            quotas: { daily: { amount: "100000.00", count: 100 } },
          },
        ]),
        product([{ channel: "lanbank", behavior: "loan", weight: 1 }], {
          code: "whole-loan",
          amount: "input.loan.amount",
          amountScale: 0,
        }),
      ],
    });
    const start = (key: string, amount: unknown, code = "cash-loan") =>
      world.engine.start({
        product: code,
        businessKey: key,
        input: code === "cash-loan" ? { loanNo: key, amount } : { loanNo: key, loan: { amount } },
      });
    const refused: [unknown, string][] = [
      ["0x10", "is not written in decimal digits"],
      ["1e3", "has an exponent"],
      ["1E+3", "has an exponent"],
      [1e21, "has an exponent"],
      ["  12 ", "has blanks around it"],
      ["Infinity", "is not a plain decimal number"],
      ["NaN", "is not a plain decimal number"],
      ["-0", "has a sign"],
      ["-10.00", "has a sign"],
      [-10, "has a sign"],
      ["+10", "has a sign"],
      ["012", "has a leading zero"],
      ["12.", "is not a plain decimal number"],
      [".5", "is not a plain decimal number"],
      ["1,000.00", "is not a plain decimal number"],
      ["100.001", "has more than 2 digits after the point"],
      [0.1 + 0.2, "has more than 2 digits after the point"],
      ["1234567890123456789", "has more than 18 digits before the point"],
      ["", "is empty"],
      [null, "is missing"],
      [true, "is a boolean"],
    ];
    for (const [index, [amount, problem]] of refused.entries()) {
      const error = await start(`B-${index}`, amount).catch((e: unknown) => e);
      expect(isCapflowError(error, "INSTANCE_INPUT_INVALID"), String(amount)).toBe(true);
      const { message, context } = error as CapflowError;
      expect(message).toContain(`the amount of product cash-loan (input.amount) ${problem}`);
      expect(message).toContain('such as "1000.00"');
      expect(context.problems).toEqual([
        { pointer: "/amount", message: expect.stringContaining(problem) },
      ]);
    }
    const whole = await start("W-1", "10.5", "whole-loan").catch((e: unknown) => e);
    expect(isCapflowError(whole, "INSTANCE_INPUT_INVALID")).toBe(true);
    expect((whole as CapflowError).message).toContain(
      'has a fraction, and this product counts whole units; send it as a plain decimal (whole digits; no sign, exponent, hexadecimal or blanks), best as a string such as "1000"',
    );
    expect((whole as CapflowError).context.problems).toEqual([
      { pointer: "/loan/amount", message: expect.any(String) },
    ]);
    // Nothing of the refused starts is stored: no instance, no quota taken.
    expect(await store.listInstances({ product: "cash-loan", limit: 100 })).toEqual([]);
    expect(await store.listInstances({ product: "whole-loan", limit: 100 })).toEqual([]);
    const [usage] = await store.quotaUsage([
      { scope: "product:cash-loan/lanbank", period: "2026-01-05" },
    ]);
    expect(usage ?? { usedCount: 0 }).toMatchObject({ usedCount: 0 });
    // Plain decimals, as strings or numbers, start and count exactly.
    const accepted: [unknown, string][] = [
      ["1000.00", "1000"],
      ["0.5", "0.5"],
      ["0", "0"],
      [250, "250"],
      [99.99, "99.99"],
    ];
    for (const [index, [amount, counted]] of accepted.entries()) {
      const instance = await start(`G-${index}`, amount);
      expect(instance.routing?.amount).toBe(counted);
    }
    expect((await start("W-2", "12", "whole-loan")).routing?.amount).toBe("12");
    const [after] = await store.quotaUsage([
      { scope: "product:cash-loan/lanbank", period: "2026-01-05" },
    ]);
    expect(after).toMatchObject({ usedAmount: "1350.49", usedCount: 5 });
  });

  test("a start passes over a channel none of whose accounts serves the input", async () => {
    const store = await open();
    const world = routingWorld(store, {
      channels: [
        funder("meadow", { accounts: { "shop-a": { when: "input.shopId == 'A'", values: {} } } }),
        funder("lanbank"),
      ],
      behaviors: [loanBehavior("meadow"), loanBehavior("lanbank")],
      products: [
        product([
          { channel: "meadow", behavior: "loan", weight: 1000 },
          { channel: "lanbank", behavior: "loan", weight: 1 },
        ]),
      ],
    });
    const started = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-1",
      input: { loanNo: "L-1", amount: "10.00", shopId: "B" },
    });
    expect(started.channel).toBe("lanbank");
    expect(started.routing?.candidates[0]).toMatchObject({
      channel: "meadow",
      state: "ineligible",
      reason: expect.stringContaining("no account of channel meadow serves this input"),
    });
  });

  test("an account whose condition cannot be evaluated on the input is passed over with the reason; the others are tried", async () => {
    const store = await open();
    // "input.shopNo > 10" on a text shopNo: CEL refuses to compare a string with a number.
    const strict = { when: "input.shopNo > 10", values: {} };
    const world = routingWorld(store, {
      channels: [
        funder("meadow", {
          accounts: { "shop-a": strict, "shop-b": { when: "input.shopId == 'B'", values: {} } },
        }),
        funder("lanbank", { accounts: { only: strict } }),
        funder("jade"),
      ],
      behaviors: [loanBehavior("meadow"), loanBehavior("lanbank"), loanBehavior("jade")],
      products: [
        product([
          { channel: "meadow", behavior: "loan", weight: 1000 },
          { channel: "jade", behavior: "loan", weight: 1 },
        ]),
        product([{ channel: "lanbank", behavior: "loan", weight: 1 }], { code: "lan-only" }),
      ],
    });
    const input = (key: string, extra: Record<string, unknown> = {}) => ({
      loanNo: key,
      amount: "10.00",
      shopId: "B",
      shopNo: "7",
      ...extra,
    });
    const failed =
      /its when input\.shopNo > 10 cannot be evaluated on this input \(no such overload/;
    // The channel's other account serves it; the one that failed is recorded.
    const started = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-1",
      input: input("L-1"),
    });
    expect(started.channel).toBe("meadow");
    expect(started.account).toBe("shop-b");
    expect(started.routing?.account?.skipped).toEqual([
      { account: "shop-a", reason: expect.stringMatching(failed) },
    ]);
    // A channel with no account left is passed over like an ineligible one: the next one takes it.
    const second = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-2",
      input: input("L-2", { shopId: "C" }),
    });
    expect(second.channel).toBe("jade");
    expect(second.routing?.candidates[0]).toMatchObject({
      channel: "meadow",
      state: "ineligible",
      reason: expect.stringContaining("no account of channel meadow serves this input (shop-a: "),
    });
    expect(second.routing?.candidates[0]?.reason).toMatch(failed);
    // No channel left: refused with the reasons, nothing stored.
    const refused = await world.engine
      .start({ product: "lan-only", businessKey: "L-3", input: input("L-3") })
      .catch((error: unknown) => error);
    expect(isCapflowError(refused, "ROUTING_NO_CHANNEL")).toBe(true);
    expect((refused as CapflowError).message).toContain(
      "lanbank: ineligible (no account of channel lanbank serves this input (only: its when",
    );
    expect(await store.listInstances({ product: "lan-only", limit: 10 })).toEqual([]);
    // A channel start is refused the same way, as input no account serves.
    const direct = await world.engine
      .start({ channel: "lanbank", behavior: "loan", businessKey: "L-4", input: input("L-4") })
      .catch((error: unknown) => error);
    expect(isCapflowError(direct, "INSTANCE_INPUT_INVALID")).toBe(true);
    expect((direct as CapflowError).message).toMatch(failed);
    expect(await store.listInstances({ channel: "lanbank", limit: 10 })).toEqual([]);
    // Input the condition can read: the account serves it.
    const readable = await world.engine.start({
      product: "lan-only",
      businessKey: "L-5",
      input: input("L-5", { shopNo: 11 }),
    });
    expect([readable.channel, readable.account]).toEqual(["lanbank", "only"]);
  });

  test("a disbursement with an unknown outcome never fails over, even if a step were marked", async () => {
    const store = await open();
    // Marked on purpose, unvalidated: the engine itself refuses to fail over after the apply.
    const unsafe = loanBehavior("lanbank", { failed: { failover: true } });
    const world = routingWorld(
      store,
      {
        channels: [funder("lanbank"), funder("meadow")],
        behaviors: [unsafe, loanBehavior("meadow")],
        products: [
          product(
            [
              {
                channel: "lanbank",
                behavior: "loan",
                weight: 1000,
                quotas: { daily: { amount: "5000.00" } },
              },
              { channel: "meadow", behavior: "loan", weight: 1 },
            ],
            { failover: {} },
          ),
        ],
      },
      { lanbank: (path) => (path === "/loan" ? "timeout" : "1"), meadow: () => "0" },
    );
    const first = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-1",
      input: { loanNo: "L-1", amount: "1200.00" },
    });
    expect(first.channel).toBe("lanbank");
    await world.runAll();
    const chain = await store.listInstances({ product: "cash-loan", businessKey: "L-1" });
    expect(chain.map((i) => [i.channel, i.status, i.step])).toEqual([
      ["lanbank", "failed", "failed"],
    ]);
    expect(world.transport.sent.filter((s) => s.channel === "meadow")).toEqual([]);
    // The funder confirmed the failure: the quota is released.
    expect(await store.quotaHolds(first.id)).toMatchObject([{ amount: "1200", state: "released" }]);
    expect(world.events.some((e) => e.type === "instance.failed-over")).toBe(false);
  });

  test("quotas: a full channel sends the business on; a disbursement consumes; nothing fits: refused, nothing stored", async () => {
    const store = await open();
    const world = routingWorld(store, {
      channels: [funder("lanbank"), funder("meadow")],
      behaviors: [loanBehavior("lanbank"), loanBehavior("meadow")],
      products: [
        product([
          {
            channel: "lanbank",
            behavior: "loan",
            weight: 1000,
            quotas: { daily: { amount: "1000.00" } },
          },
          { channel: "meadow", behavior: "loan", weight: 1, quotas: { total: { count: 1 } } },
        ]),
      ],
    });
    const start = (n: number, amount: string) =>
      world.engine.start({
        product: "cash-loan",
        businessKey: `L-${n}`,
        input: { loanNo: `L-${n}`, amount },
      });
    expect((await start(1, "999.99")).channel).toBe("lanbank");
    const second = await start(2, "0.02");
    expect(second.channel).toBe("meadow");
    expect(second.routing?.rule).toBe("next-with-quota");
    expect(second.routing?.candidates[0]).toMatchObject({
      channel: "lanbank",
      state: "quota-exhausted",
    });
    const refused = await start(3, "0.02").catch((error: unknown) => error);
    expect(isCapflowError(refused, "ROUTING_NO_CHANNEL")).toBe(true);
    expect((refused as CapflowError).message).toContain("lanbank: quota-exhausted");
    expect(
      await store.findProductInstance({ product: "cash-loan", businessKey: "L-3" }),
    ).toBeUndefined();
    expect((await start(4, "0.01")).channel).toBe("lanbank");
    await world.runAll();
    const [usage] = await store.quotaUsage([
      { scope: "product:cash-loan/lanbank", period: "2026-01-05" },
    ]);
    expect(usage).toMatchObject({ usedAmount: "1000", consumedAmount: "1000", consumedCount: 2 });
  });

  test("quotas: reopening a released instance is a new reservation, refused when today is full and charged to today", async () => {
    const store = await open();
    let answer: "0" | "1" = "1";
    const definitions = {
      channels: [funder("lanbank")],
      behaviors: [loanBehavior("lanbank")],
      products: [
        product([
          { channel: "lanbank", behavior: "loan", weight: 1, quotas: { daily: { count: 1 } } },
        ]),
      ],
    };
    const world = routingWorld(store, definitions, { lanbank: () => answer });
    // The preview of the move, by the engine's rules and the quotas' usage now.
    const preview = async (id: string, step = "apply") => {
      const record = (await store.getInstance(id))!;
      const now = world.clock.now();
      return previewReopenedQuotas(
        previewFailedOver(
          previewOperatorAction(record, definitions.behaviors[0]!, "move", now, step),
          record,
          await failoverSuccession(store, record),
        ),
        record,
        { store, product: definitions.products[0], channel: definitions.channels[0], now },
      );
    };
    const operator = { who: "ops:alice", why: "the funder asks to try again" };
    const start = (key: string) =>
      world.engine.start({
        product: "cash-loan",
        businessKey: key,
        input: { loanNo: key, amount: "100.00" },
      });
    const usage = async (period: string) =>
      (await store.quotaUsage([{ scope: "product:cash-loan/lanbank", period }]))[0];
    const moveBack = (id: string) =>
      world.engine.moveTo(id, "apply", operator).catch((error: unknown) => error);

    // L1 fails, its hold is released, and L2 takes the day's one slot.
    const l1 = await start("L1");
    await world.runAll();
    expect(await store.quotaHolds(l1.id)).toMatchObject([{ state: "released" }]);
    answer = "0";
    await start("L2");
    await world.runAll();
    const failed = (await store.getInstance(l1.id))!;
    expect(failed.status).toBe("failed");

    // Reopening L1 the same day finds no room: the preview says so, and the move is refused with
    // the same code and reason; nothing changed.
    const previewed = await preview(l1.id);
    expect(previewed).toMatchObject({
      allowed: false,
      quota: "reserved",
      refusal: { code: "QUOTA_EXHAUSTED" },
    });
    const refused = await moveBack(l1.id);
    expect(isCapflowError(refused, "QUOTA_EXHAUSTED")).toBe(true);
    expect((refused as CapflowError).message).toContain("reopens it");
    expect(previewed.refusal?.message).toBe((refused as CapflowError).message);
    expect(previewed.warnings).toContain((refused as CapflowError).message);
    expect(await store.getInstance(l1.id)).toMatchObject({
      version: failed.version,
      status: "failed",
    });
    expect(await store.quotaHolds(l1.id)).toMatchObject([
      { period: "2026-01-05", state: "released" },
    ]);
    expect(await usage("2026-01-05")).toMatchObject({ usedCount: 1 });

    // The next day in Shanghai it is reserved in that day, which it then consumes.
    world.clock.advance(24 * 3600_000);
    const nextDay = await preview(l1.id);
    expect(nextDay).toMatchObject({
      allowed: true,
      quota: "reserved",
      warnings: [expect.any(String)],
    });
    expect(nextDay.refusal).toBeUndefined();
    expect(await world.engine.moveTo(l1.id, "apply", operator)).toMatchObject({ status: "active" });
    expect(await store.quotaHolds(l1.id)).toMatchObject([
      { period: "2026-01-06", state: "reserved" },
    ]);
    expect(await usage("2026-01-05")).toMatchObject({ usedCount: 1 });
    expect(await usage("2026-01-06")).toMatchObject({ usedCount: 1 });
    await world.runAll();
    expect(await usage("2026-01-06")).toMatchObject({ usedCount: 1, consumedCount: 1 });

    // Reopening a disbursed instance takes nothing again: its hold stays consumed.
    const disbursed = (await store.getInstance(l1.id))!;
    expect(disbursed.status).toBe("succeeded");
    expect(await preview(l1.id, "query")).toMatchObject({ allowed: true });
    await world.engine.moveTo(l1.id, "query", operator);
    expect(await store.quotaHolds(l1.id)).toMatchObject([
      { period: "2026-01-06", state: "consumed" },
    ]);
    expect(await usage("2026-01-06")).toMatchObject({ usedCount: 1, consumedCount: 1 });

    // A cancelled instance's released hold is taken anew the same way.
    world.clock.advance(24 * 3600_000);
    const l3 = await start("L3");
    await world.engine.cancel(l3.id, operator);
    expect(await store.quotaHolds(l3.id)).toMatchObject([{ state: "released" }]);
    await start("L4");
    expect((await preview(l3.id)).refusal?.code).toBe("QUOTA_EXHAUSTED");
    expect(isCapflowError(await moveBack(l3.id), "QUOTA_EXHAUSTED")).toBe(true);
    expect((await store.getInstance(l3.id))?.status).toBe("cancelled");
    world.clock.advance(24 * 3600_000);
    await world.engine.moveTo(l3.id, "apply", operator);
    expect(await store.quotaHolds(l3.id)).toMatchObject([
      { period: "2026-01-08", state: "reserved" },
    ]);
    expect(await usage("2026-01-07")).toMatchObject({ usedCount: 1 });
    expect(await usage("2026-01-08")).toMatchObject({ usedCount: 1 });
  });

  test("accounts: one whose quota is full is not chosen; one at its call limit is passed over while another is free", async () => {
    const store = await open();
    const channel = funder("lanbank", {
      accounts: {
        "shop-a": {
          values: { merchantId: "M-A" },
          quotas: { loan: { daily: { amount: "1000.00", count: 2 } } },
          rate: { limit: 1, per: "1m" },
        },
        "shop-b": {
          values: { merchantId: "M-B" },
          quotas: { loan: { total: { count: 2 } } },
        },
      },
    });
    const world = routingWorld(store, {
      channels: [channel],
      behaviors: [
        loanBehavior("lanbank", {
          apply: {
            request: {
              format: "json",
              body: { no: "{{input.loanNo}}", mch: "{{account.merchantId}}" },
            },
          },
        }),
      ],
      products: [product([{ channel: "lanbank", behavior: "loan", weight: 1 }])],
    });
    const start = (n: number, amount = "100.00") =>
      world.engine.start({
        product: "cash-loan",
        businessKey: `L-${n}`,
        input: { loanNo: `L-${n}`, amount },
      });
    // First match: shop-a, twice. Its rate (one call a minute) lets the first call out only.
    const one = await start(1);
    const two = await start(2);
    expect([one.account, two.account]).toEqual(["shop-a", "shop-a"]);
    await world.engine.runDue({ limit: 10 });
    const first = world.transport.sent.map((sent) => JSON.parse(sent.body));
    expect(first).toHaveLength(1);
    expect(first[0].mch).toBe("M-A");
    // shop-a is at its call limit in this worker: the next start takes shop-b, and says why.
    const three = await start(3);
    expect(three.account).toBe("shop-b");
    expect(three.routing?.account).toEqual({
      code: "shop-b",
      rule: "first-match",
      skipped: [{ account: "shop-a", reason: "at its concurrency or rate limit" }],
    });
    // A minute later shop-a may call again, but its two starts of the day are taken: its quota
    // passes it over for shop-b, whatever the call limits say.
    world.clock.advance(61_000);
    const four = await start(4);
    expect(four.account).toBe("shop-b");
    expect(four.routing?.account?.skipped).toEqual([{ account: "shop-a", reason: "quota full" }]);
    expect(four.routing?.quotas.map((quota) => quota.scope)).toEqual([
      "account:lanbank/shop-b/loan",
    ]);
    // Both accounts full: the channel has no room, the start is refused and nothing is stored.
    const refused = await start(5).catch((error: unknown) => error);
    expect(isCapflowError(refused, "ROUTING_NO_CHANNEL")).toBe(true);
    expect((refused as CapflowError).message).toContain(
      "lanbank: quota-exhausted (every account serving this input has a full quota (shop-a, shop-b))",
    );
    expect(
      await store.findProductInstance({ product: "cash-loan", businessKey: "L-5" }),
    ).toBeUndefined();
    await world.runAll();
    const sent = world.transport.sent
      .filter((request) => request.path === "/loan")
      .map((request) => JSON.parse(request.body))
      .sort((a, b) => a.no.localeCompare(b.no));
    expect(sent).toEqual([
      { no: "L-1", mch: "M-A" },
      { no: "L-2", mch: "M-A" },
      { no: "L-3", mch: "M-B" },
      { no: "L-4", mch: "M-B" },
    ]);
    const usage = await store.quotaUsage([
      { scope: "account:lanbank/shop-a/loan", period: "2026-01-05" },
      { scope: "account:lanbank/shop-b/loan", period: "total" },
    ]);
    expect(usage.map((u) => [u.usedCount, u.consumedCount])).toEqual([
      [2, 2],
      [2, 2],
    ]);
  });

  test("accounts: each instance keeps its account's values and keys, its callbacks included", async () => {
    const store = await open();
    const signed = (secret: string) => ({
      options: {
        keys: { secret: { ref: `inline:${secret}` } },
        callback: {
          signature: {
            algorithm: "hmac-sha256",
            output: "hex",
            canonical: { kind: "template", template: "{body}" },
            placement: { in: "header", name: "X-Sign" },
          },
        },
      },
    });
    const channel = funder("lanbank", {
      crypto: { handler: "configurable", options: signed("channel-secret").options },
      callbacks: {
        "credit.result": {
          format: "json",
          correlation: "body.no",
          dedupeKey: "body.notifyId",
          statusTable: {
            code: "body.code",
            codes: { "0": { outcome: "succeeded" }, "1": { outcome: "failed" } },
          },
          ack: { format: "text", body: "OK {{account.merchantId}}" },
        },
      },
      accountSelection: "alternate",
      accounts: {
        "shop-a": { values: { merchantId: "M-A" }, crypto: signed("secret-a") },
        "shop-b": { values: { merchantId: "M-B" }, crypto: signed("secret-b") },
      },
    });
    const credit: BehaviorDefinition = {
      channel: "lanbank",
      code: "credit",
      initial: "apply",
      steps: {
        apply: {
          kind: "call",
          interface: "credit.apply",
          request: {
            format: "json",
            body: { no: "{{input.applicationNo}}", mch: "{{account.merchantId}}" },
          },
          routes: [{ when: 'outcome == "succeeded"', to: "wait" }],
          otherwise: "review",
        },
        wait: {
          kind: "callback",
          callback: "credit.result",
          deadline: "1d",
          onDeadline: "review",
          routes: [{ when: 'outcome == "succeeded"', to: "approved" }],
          otherwise: "review",
        },
        approved: { kind: "terminal", outcome: "succeeded" },
        review: { kind: "terminal", outcome: "manual" },
      },
    };
    const world = routingWorld(store, {
      channels: [channel],
      behaviors: [credit],
      products: [
        product([{ channel: "lanbank", behavior: "credit", weight: 1 }], {
          code: "credit-line",
          amount: undefined,
          customer: "input.customerId",
        } as unknown as Partial<ProductDefinition>),
      ],
    });
    const start = (no: string) =>
      world.engine.start({
        product: "credit-line",
        businessKey: no,
        input: { applicationNo: no, customerId: "C-1" },
      });
    const one = await start("A-1");
    const two = await start("A-2");
    // Alternation per customer: the second application uses the other account.
    expect(new Set([one.account, two.account])).toEqual(new Set(["shop-a", "shop-b"]));
    expect(one.routing?.account?.rule).toBe("alternate");
    await world.runAll();
    const sentFor = (no: string) =>
      JSON.parse(world.transport.sent.find((s) => s.body.includes(no))!.body);
    const merchant = (account: string | null) => (account === "shop-a" ? "M-A" : "M-B");
    expect(sentFor("A-1").mch).toBe(merchant(one.account));

    const notify = (
      no: string,
      secret: string,
      account: string,
      notifyId = `N-${no}-${secret}`,
    ) => {
      const body = JSON.stringify({ no, notifyId, code: "0" });
      const sign = createHmac("sha256", secret).update(body).digest("hex");
      return world.engine.receiveCallback(
        "lanbank",
        "credit.result",
        { method: "POST", path: "/callbacks", headers: { "x-sign": sign }, body },
        { account },
      );
    };
    const own = one.account!;
    const other = own === "shop-a" ? "shop-b" : "shop-a";
    const secretOf = (account: string) => (account === "shop-a" ? "secret-a" : "secret-b");
    // Signed with the other account's key at this account's URL: refused.
    const forged = await notify("A-1", secretOf(other), own);
    expect(forged.accepted).toBe(false);
    // Genuinely from the other account: stored, but not this instance's notification.
    expect((await notify("A-1", secretOf(other), other)).accepted).toBe(true);
    await world.runAll();
    expect((await store.getInstance(one.id))?.status).toBe("waiting");
    // Its own account's notification is verified with its keys and applied; the ack names it.
    const genuine = await notify("A-1", secretOf(own), own, "N-1001");
    expect(genuine).toMatchObject({ accepted: true, body: `OK ${merchant(own)}` });
    await world.runAll();
    const settled: InstanceRecord | undefined = await store.getInstance(one.id);
    expect(settled).toMatchObject({ status: "succeeded", account: own });
    // Each account numbers its notifications on its own: the other account's N-1001 is its own
    // notification, applied to its instance, while this account's N-1001 again is a duplicate.
    const fromOther = await notify("A-2", secretOf(other), other, "N-1001");
    expect(fromOther).toMatchObject({ accepted: true, duplicate: false });
    expect(await notify("A-1", secretOf(own), own, "N-1001")).toMatchObject({ duplicate: true });
    await world.runAll();
    expect(await store.getInstance(two.id)).toMatchObject({ status: "succeeded", account: other });
  });
}
