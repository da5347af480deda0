import { describe, expect, test } from "vitest";
import type { ProductDefinition } from "../../src/definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { creditBehavior, funderChannel, loanBehavior, product } from "./fixtures.ts";

function validate(
  products: unknown[],
  channels: ChannelDefinition[] = [funderChannel("lanbank"), funderChannel("meadow")],
  behaviors: BehaviorDefinition[] = [
    creditBehavior("lanbank"),
    loanBehavior("lanbank"),
    creditBehavior("meadow"),
    loanBehavior("meadow"),
  ],
) {
  return validateDefinitions({
    channels: channels.map((definition) => ({
      file: `${definition.code}.channel.json`,
      definition,
    })),
    behaviors: behaviors.map((definition) => ({
      file: `${definition.channel}.${definition.code}.behavior.json`,
      definition,
    })),
    products: products.map((definition, index) => ({ file: `p${index}.product.json`, definition })),
  });
}

const codes = (result: ReturnType<typeof validate>) =>
  result.problems.map((problem) => `${problem.code} ${problem.file}${problem.pointer}`);

describe("product definitions", () => {
  test("a product of two funders with quotas and failover validates", () => {
    const credit: ProductDefinition = product(
      [
        { channel: "lanbank", behavior: "credit", weight: 3, when: "input.age >= 22" },
        { channel: "meadow", behavior: "credit", weight: 1, quotas: { daily: { count: 100 } } },
      ],
      {
        code: "credit-line",
        failover: {},
        customer: "input.customerId",
        customerRouting: "sticky",
      },
    );
    const result = validate([credit]);
    expect(result.problems).toEqual([]);
    expect(result.products.map((p) => p.code)).toEqual(["credit-line"]);
  });

  test("references, duplicates, amounts and customers are checked with a fix", () => {
    const result = validate([
      product(
        [
          {
            channel: "lanbank",
            behavior: "loan",
            weight: 1,
            quotas: { daily: { amount: "10.00" } },
          },
          { channel: "lanbank", behavior: "loan", weight: 1 },
          { channel: "lanbnak", behavior: "loan", weight: 1 },
          { channel: "meadow", behavior: "lona", weight: 1 },
        ],
        {
          amount: undefined,
          customerRouting: "alternate",
        } as unknown as Partial<ProductDefinition>,
      ),
      product([{ channel: "meadow", behavior: "loan", weight: 1, when: "input.amount >" }], {
        code: "other",
      }),
      product([{ channel: "meadow", behavior: "loan", weight: 1 }]),
    ]);
    expect(codes(result)).toEqual([
      "missing-amount p0.product.json/channels/0",
      "duplicate-product-channel p0.product.json/channels/1/channel",
      "unknown-channel p0.product.json/channels/2/channel",
      "unknown-behavior p0.product.json/channels/3/behavior",
      "missing-customer p0.product.json/customerRouting",
      "invalid-expression p1.product.json/channels/0/when",
      "duplicate-product p2.product.json/code",
    ]);
    const unknown = result.problems.find((p) => p.code === "unknown-channel")!;
    expect(unknown.message).toContain('did you mean "lanbank"?');
  });

  test("the schema refuses a float amount and a zero weight", () => {
    const result = validate([
      product([
        { channel: "lanbank", behavior: "loan", weight: 0, quotas: { daily: { amount: "1e5" } } },
      ]),
    ]);
    expect(result.problems.map((p) => p.pointer)).toEqual([
      "/channels/0/weight",
      "/channels/0/quotas/daily/amount",
    ]);
    expect(result.problems[1]!.message).toContain('e.g. "5000000.00"');
  });

  test("a failover that could follow a money-moving call is refused, in the product and the behavior", () => {
    const unsafeLoan = loanBehavior("lanbank", { failed: { failover: true } });
    const result = validate(
      [product([{ channel: "lanbank", behavior: "loan", weight: 1 }], { failover: {} })],
      [funderChannel("lanbank")],
      [unsafeLoan],
    );
    expect(codes(result)).toEqual([
      "unsafe-failover lanbank.loan.behavior.json/steps/failed/failover",
      "unsafe-failover p0.product.json/channels/0",
    ]);
    expect(result.problems[1]!.message).toContain("apply → failed");
  });

  test("failover only on failed steps; channel quotas name behaviors that exist", () => {
    const credit = creditBehavior("lanbank");
    credit.steps.approved = { kind: "terminal", outcome: "succeeded", failover: true };
    const channel = funderChannel("lanbank", {
      quotas: { lona: { daily: { count: 1 } } },
      accounts: {
        a: { quotas: { credit: { total: { count: 1 } }, crdit: { total: { count: 1 } } } },
      },
    });
    const result = validate([], [channel], [credit]);
    expect(codes(result)).toEqual([
      "unknown-behavior lanbank.channel.json/quotas/lona",
      "unknown-behavior lanbank.channel.json/accounts/a/quotas/crdit",
      "failover-outcome lanbank.credit.behavior.json/steps/approved/failover",
    ]);
  });
});
