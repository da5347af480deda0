import { Decimal } from "decimal.js";
import { describe, expect, test } from "vitest";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import type { ChannelBehavior, NewInstance } from "../../src/ports/instance-store.ts";
import {
  smoothWeightedSequence,
  weightedOrder,
} from "../../src/routing/smooth-weighted-round-robin.ts";
import { creditBehavior, loanBehavior, product } from "./fixtures.ts";
import { funder, routingScenarios, routingWorld } from "./routing-scenarios.ts";

describe("smooth weighted round robin", () => {
  test("nginx's sequence: weights 5, 1, 1 give a a b a c a a", () => {
    expect(
      smoothWeightedSequence([5, 1, 1])
        .map((i) => "abc"[i])
        .join(" "),
    ).toBe("a a b a c a a");
    expect(smoothWeightedSequence([10, 20])).toEqual(smoothWeightedSequence([1, 2]));
  });

  test("an order puts the pick at the position first, then the picks among the rest", () => {
    const candidates = [
      { id: "a", weight: 2 },
      { id: "b", weight: 1 },
    ];
    expect(
      [1, 2, 3].map((p) =>
        weightedOrder(candidates, p)
          .map((c) => c.id)
          .join(""),
      ),
    ).toEqual(["ab", "ba", "ab"]);
  });
});

describe("fund routing on the memory store", () => {
  routingScenarios(async () => new MemoryInstanceStore());

  test("a product's starts follow the weights and each records why", async () => {
    const world = routingWorld(new MemoryInstanceStore(), {
      channels: [funder("lanbank"), funder("meadow"), funder("jade")],
      behaviors: [loanBehavior("lanbank"), loanBehavior("meadow"), loanBehavior("jade")],
      products: [
        product([
          { channel: "lanbank", behavior: "loan", weight: 5 },
          { channel: "meadow", behavior: "loan", weight: 3 },
          { channel: "jade", behavior: "loan", weight: 2, when: "double(input.amount) <= 5000.0" },
        ]),
      ],
    });
    const counts: Record<string, number> = {};
    for (let n = 1; n <= 100; n++) {
      const instance = await world.engine.start({
        product: "cash-loan",
        businessKey: `L-${n}`,
        input: { loanNo: `L-${n}`, amount: "100.00" },
      });
      counts[instance.channel] = (counts[instance.channel] ?? 0) + 1;
    }
    expect(counts).toEqual({ lanbank: 50, meadow: 30, jade: 20 });
    const big = await world.engine.start({
      product: "cash-loan",
      businessKey: "L-big",
      input: { loanNo: "L-big", amount: "9000.00" },
    });
    expect(big.routing?.candidates.find((c) => c.channel === "jade")).toMatchObject({
      state: "ineligible",
      reason: "when double(input.amount) <= 5000.0 is false",
    });
    expect(big.routing).toMatchObject({
      product: "cash-loan",
      rule: "weighted-round-robin",
      amount: "9000",
    });
    expect((await world.engine.history(big.id))[0]).toMatchObject({
      event: "routed",
      outcome: `${big.channel} by weighted-round-robin`,
    });
    expect(world.events).toContainEqual(
      expect.objectContaining({
        type: "instance.routed",
        instanceId: big.id,
        channel: big.channel,
      }),
    );
  });

  test("a failover counts the amount the business was routed with, never judging its stored input again", async () => {
    // Instances whose stored input holds an amount a start refuses now, beside the amount they
    // were routed with: the store rewrites the first instance's input as such an instance has it.
    const legacy: Record<string, [started: string, stored: string]> = {
      "A-1": ["0.30", "0.30000000000000004"],
      "A-2": ["1000", "1e3"],
      "A-3": ["12", "012"],
      "A-4": ["100.00", "100.001"],
    };
    class StoredBeforeStore extends MemoryInstanceStore {
      override createRoutedInstance(
        instance: NewInstance,
        keyChannels?: readonly ChannelBehavior[],
      ) {
        const stored = legacy[instance.businessKey]?.[1];
        const input = { ...(instance.input as Record<string, unknown>), amount: stored };
        return super.createRoutedInstance(
          stored === undefined || instance.failoverOf !== null ? instance : { ...instance, input },
          keyChannels,
        );
      }
    }
    const store = new StoredBeforeStore();
    const world = routingWorld(
      store,
      {
        channels: [funder("lanbank"), funder("meadow")],
        behaviors: [creditBehavior("lanbank"), creditBehavior("meadow")],
        products: [
          product(
            [
              { channel: "lanbank", behavior: "credit", weight: 100 },
              {
                channel: "meadow",
                behavior: "credit",
                weight: 1,
                quotas: { daily: { amount: "100000.00", count: 10 } },
              },
            ],
            { code: "credit-line", failover: {} },
          ),
        ],
      },
      { lanbank: () => "1", meadow: () => "0" },
    );
    for (const [key, [amount]] of Object.entries(legacy)) {
      const first = await world.engine.start({
        product: "credit-line",
        businessKey: key,
        input: { applicationNo: key, amount },
      });
      expect(first.channel).toBe("lanbank");
    }
    await world.runAll();
    for (const [key, [started, stored]] of Object.entries(legacy)) {
      const chain = await store.listInstances({ product: "credit-line", businessKey: key });
      expect(
        chain.map((i) => [i.channel, i.status, i.step]),
        key,
      ).toEqual([
        ["lanbank", "failed", "declined"],
        ["meadow", "succeeded", "approved"],
      ]);
      expect(chain[0]!.lastError ?? null, key).toBeNull();
      expect(chain[1]!.input).toMatchObject({ amount: stored });
      expect(chain[1]!.routing?.amount).toBe(chain[0]!.routing?.amount);
      expect(chain[1]!.routing?.amount).toBe(new Decimal(started).toString());
    }
    const [usage] = await store.quotaUsage([
      { scope: "product:credit-line/meadow", period: "2026-01-05" },
    ]);
    expect(usage).toMatchObject({ usedAmount: "1112.3", usedCount: 4 });
  });
});
