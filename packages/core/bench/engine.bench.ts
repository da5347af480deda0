import { Bench } from "tinybench";
import type {
  BehaviorDefinition,
  ChannelDefinition,
  StepDefinition,
} from "../src/definition/types.ts";
import { Engine } from "../src/engine/engine.ts";
import { MemoryDefinitionSource } from "../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../src/message/processor-registry.ts";

/**
 * Engine dispatch overhead: a behavior of 8 `decide` steps (no partner call) run through the
 * engine (start, claim, lock, restore machine, route with CEL, compare-and-set commit with step
 * log) next to the bare cost of the same store operations (create + 8 commits) with no engine.
 */
const steps = 8;

const channel: ChannelDefinition = {
  code: "bench",
  name: "Bench",
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {},
};

const behaviorSteps: Record<string, StepDefinition> = {
  done: { kind: "terminal", outcome: "succeeded" },
};
for (let i = 0; i < steps; i++) {
  behaviorSteps[`d${i}`] = {
    kind: "decide",
    routes: [{ when: "input.amount > 0", to: i + 1 < steps ? `d${i + 1}` : "done" }],
    otherwise: "done",
  };
}
const behavior: BehaviorDefinition = {
  channel: "bench",
  code: "noop",
  initial: "d0",
  steps: behaviorSteps,
};

export const comparisons = [
  { measured: `engine: ${steps} decide steps`, baseline: `bare store: create + ${steps} commits` },
];

export const report = (opsPerSecond: (task: string) => number): string[] => {
  const engineUs = 1e6 / opsPerSecond(comparisons[0]!.measured);
  const bareUs = 1e6 / opsPerSecond(comparisons[0]!.baseline);
  const overhead = (engineUs - bareUs) / steps;
  return [
    `engine dispatch overhead: ${overhead.toFixed(1)} µs per step (target < 100 µs)${overhead < 100 ? "  (target met)" : "  (ABOVE TARGET)"}`,
  ];
};

export default function engineBench(): Bench {
  const store = new MemoryInstanceStore();
  const engine = new Engine({
    store,
    processors: new ProcessorRegistry(),
    definitions: new MemoryDefinitionSource({ channels: [channel], behaviors: [behavior] }),
    maxChainedSteps: steps + 1,
  });
  const bareStore = new MemoryInstanceStore();
  let n = 0;
  const bench = new Bench({ time: 1_000, warmupTime: 200 });
  bench.add(comparisons[0]!.measured, async () => {
    n++;
    await engine.start({
      channel: "bench",
      behavior: "noop",
      businessKey: `k${n}`,
      input: { amount: 1 },
    });
    await engine.runDue({ limit: 1 });
  });
  bench.add(comparisons[0]!.baseline, async () => {
    n++;
    const now = Date.now();
    let { instance } = await bareStore.createInstance({
      id: `i${n}`,
      channel: "bench",
      behavior: "noop",
      businessKey: `k${n}`,
      behaviorVersion: 1,
      inputDigest: "",
      input: { amount: 1 },
      step: "d0",
      status: "active",
      context: {},
      snapshot: {},
      nextRunAt: now,
      now,
    });
    for (let i = 0; i < steps; i++) {
      instance = await bareStore.commitTransition({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now,
        changes: {
          step: i + 1 < steps ? `d${i + 1}` : "done",
          status: i + 1 < steps ? "active" : "succeeded",
          nextRunAt: now,
        },
        log: {
          step: instance.step,
          attempt: 0,
          event: "transition",
          startedAt: now,
          durationMs: 0,
        },
      });
    }
  });
  return bench;
}
