import { Bench } from "tinybench";
import type { ProductDefinition } from "../src/definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../src/definition/types.ts";
import { Engine } from "../src/engine/engine.ts";
import { MemoryDefinitionSource } from "../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../src/message/processor-registry.ts";

/**
 * Channel selection cost per start: `engine.start({ product })` over three funders (eligibility
 * CEL, health, smooth weighted round robin, a daily and a total quota reserved with the instance)
 * next to `engine.start({ channel, behavior })` on the same store, which routes nothing.
 */
const channel = (code: string): ChannelDefinition => ({
  code,
  name: code,
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan" } },
});
const behavior = (code: string): BehaviorDefinition => ({
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
const funders = ["lanbank", "meadow", "jade"];
const product: ProductDefinition = {
  code: "cash-loan",
  name: "Cash loan",
  amount: "input.amount",
  channels: funders.map((code, index) => ({
    channel: code,
    behavior: "loan",
    weight: 5 - index,
    when: "double(input.amount) <= 200000.0",
    quotas: { daily: { amount: "1000000000.00" }, total: { count: 100_000_000 } },
  })),
};

export const comparisons = [
  { measured: "start a product (routed)", baseline: "start on a channel" },
];

export const report = (opsPerSecond: (task: string) => number): string[] => {
  const routedUs = 1e6 / opsPerSecond(comparisons[0]!.measured);
  const directUs = 1e6 / opsPerSecond(comparisons[0]!.baseline);
  return [`channel selection: ${(routedUs - directUs).toFixed(1)} µs per start (memory store)`];
};

export default function routingBench(): Bench {
  const engine = new Engine({
    store: new MemoryInstanceStore(),
    processors: new ProcessorRegistry(),
    definitions: new MemoryDefinitionSource({
      channels: funders.map(channel),
      behaviors: funders.map(behavior),
      products: [product],
    }),
  });
  let n = 0;
  const bench = new Bench({ time: 1_000, warmupTime: 200 });
  bench.add(comparisons[0]!.measured, async () => {
    n++;
    await engine.start({
      product: "cash-loan",
      businessKey: `P${n}`,
      input: { loanNo: `P${n}`, amount: "1000.00" },
    });
  });
  bench.add(comparisons[0]!.baseline, async () => {
    n++;
    await engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: `C${n}`,
      input: { loanNo: `C${n}`, amount: "1000.00" },
    });
  });
  return bench;
}
