import { describe, expect, test } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import { Worker } from "../../src/runtime/worker.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";
import { ScriptedTransport } from "../support/scripted-transport.ts";

describe("Worker", () => {
  test("runs due instances until stopped, and a stop waits for the steps in flight", async () => {
    const store = new MemoryInstanceStore();
    const transport = new ScriptedTransport();
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const engine = new Engine({
      store,
      transport,
      processors: new ProcessorRegistry(),
      definitions: new MemoryDefinitionSource({
        channels: [testChannel],
        behaviors: [loanBehavior()],
      }),
    });
    for (let i = 0; i < 20; i++) {
      await engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: `L-${i}`,
        input: { loanNo: `L-${i}` },
      });
    }
    const worker = new Worker(engine, { batchSize: 4, concurrency: 2, idleMs: 5 }).start();
    await expect
      .poll(async () => (await store.listInstances({ status: ["succeeded"] })).length)
      .toBe(20);

    transport.script("/loan/apply", { hang: slow.then(() => ({ body: { status: "SUCCESS" } })) });
    const late = await engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-late",
      input: { loanNo: "L-late" },
    });
    await expect.poll(() => transport.count("/loan/apply")).toBe(21);
    let stopped = false;
    const stopping = worker.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stopped).toBe(false);
    releaseSlow();
    await stopping;
    expect((await engine.getInstance(late.id))?.status).toBe("succeeded");
    expect(worker.running).toBe(false);
  });
});
