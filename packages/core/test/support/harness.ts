import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { Engine, type EngineOptions } from "../../src/engine/engine.ts";
import type { EngineEvent } from "../../src/engine/engine-events.ts";
import { InProcessLockProvider } from "../../src/memory/in-process-lock-provider.ts";
import { ManualClock } from "../../src/memory/manual-clock.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import { loanBehavior, testChannel } from "./loan-definitions.ts";
import { ScriptedTransport } from "./scripted-transport.ts";

/** An engine on memory adapters, a manual clock and a scripted partner. */
export function engineHarness(
  options: {
    channel?: ChannelDefinition;
    behaviors?: BehaviorDefinition[];
    engine?: Partial<EngineOptions>;
  } = {},
) {
  const clock = new ManualClock();
  const store = new MemoryInstanceStore();
  const definitions = new MemoryDefinitionSource({
    channels: [options.channel ?? testChannel],
    behaviors: options.behaviors ?? [loanBehavior()],
  });
  const transport = new ScriptedTransport();
  const processors = new ProcessorRegistry();
  const events: EngineEvent[] = [];
  const makeEngine = (overrides: Partial<EngineOptions> = {}) =>
    new Engine({
      store,
      definitions,
      processors,
      transport,
      clock,
      locks: new InProcessLockProvider({ clock }),
      onEvent: (event) => events.push(event),
      ...options.engine,
      ...overrides,
    });
  const engine = makeEngine({ workerId: "w1" });

  /** Advances the clock and runs whatever is due, until nothing is. */
  async function runFor(ms: number, step = 1_000): Promise<void> {
    for (let elapsed = 0; elapsed <= ms; elapsed += step) {
      while ((await engine.runDue()) > 0) {}
      if (elapsed < ms) await clock.advance(Math.min(step, ms - elapsed));
    }
  }

  async function startLoan(loanNo = "L-1", extra: Record<string, unknown> = {}) {
    return engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: loanNo,
      input: { loanNo, amount: 100000, idCardNo: "110101199003071234", ...extra },
    });
  }

  function callback(body: Record<string, unknown>) {
    return engine.receiveCallback("lanbank", "loan.result", {
      method: "POST",
      path: "/callbacks/lanbank/loan.result",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  return {
    clock,
    store,
    definitions,
    transport,
    processors,
    events,
    engine,
    makeEngine,
    runFor,
    startLoan,
    callback,
  };
}
