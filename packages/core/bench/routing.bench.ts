import { Bench } from "tinybench";
import { Engine } from "../src/engine/engine.ts";
import { MemoryDefinitionSource } from "../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../src/message/processor-registry.ts";
import {
  routingBehavior as behavior,
  routingChannel as channel,
  routingFunders as funders,
  routingProduct as product,
} from "./support/routing-funders.ts";

/**
 * Channel selection cost per start: `engine.start({ product })` over three funders (eligibility
 * CEL, health, smooth weighted round robin, a daily and a total quota reserved with the instance)
 * next to `engine.start({ channel, behavior })` on the same store, which routes nothing.
 */
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
