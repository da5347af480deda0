import { describe, expect, test } from "vitest";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import {
  smoothWeightedSequence,
  weightedOrder,
} from "../../src/routing/smooth-weighted-round-robin.ts";
import { loanBehavior, product } from "./fixtures.ts";
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
});
