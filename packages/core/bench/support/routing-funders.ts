import type { ProductDefinition } from "../../src/definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";

/**
 * The routing benches' product: three funders of one loan behavior that calls nothing reachable,
 * each eligible by a CEL condition, weighted 5:4:3, with daily and total quotas too large to run
 * out. Shared by core's bench (memory store) and the store's bench (PostgreSQL), so both measure
 * the same selection.
 */
export const routingFunders = ["lanbank", "meadow", "jade"];

export const routingChannel = (code: string): ChannelDefinition => ({
  code,
  name: code,
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan" } },
});

export const routingBehavior = (code: string): BehaviorDefinition => ({
  channel: code,
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      idempotent: true,
      request: { format: "json", body: { no: "{{input.loanNo}}" } },
      otherwise: "done",
    },
    done: { kind: "terminal", outcome: "succeeded" },
  },
});

export const routingProduct: ProductDefinition = {
  code: "cash-loan",
  name: "Cash loan",
  amount: "input.amount",
  channels: routingFunders.map((code, index) => ({
    channel: code,
    behavior: "loan",
    weight: 5 - index,
    when: "double(input.amount) <= 200000.0",
    quotas: { daily: { amount: "1000000000.00" }, total: { count: 100_000_000 } },
  })),
};
