import { describe, expect, test } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { Transition } from "../../src/ports/instance-store.ts";
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

  test("one slow partner call holds its own slot only: the other slots keep claiming and settling", async () => {
    const store = new MemoryInstanceStore();
    const transport = new ScriptedTransport();
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    transport.script("/loan/apply", { hang: slow.then(() => ({ body: { status: "SUCCESS" } })) });
    const engine = new Engine({
      store,
      transport,
      processors: new ProcessorRegistry(),
      definitions: new MemoryDefinitionSource({
        channels: [testChannel],
        behaviors: [loanBehavior()],
      }),
    });
    const start = (key: string) =>
      engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: key,
        input: { loanNo: key },
      });
    const worker = new Worker(engine, { slots: 4, batchSize: 4, idleMs: 5 }).start();
    try {
      const stuck = await start("L-slow");
      // The slow call is at the funder, and stays there until released.
      await expect.poll(() => transport.count("/loan/apply")).toBe(1);
      transport.script("/loan/apply", { body: { status: "SUCCESS" } });
      const others = await Promise.all(["L-1", "L-2", "L-3", "L-4", "L-5", "L-6"].map(start));
      for (const other of others) {
        await expect
          .poll(async () => (await engine.getInstance(other.id))?.status)
          .toBe("succeeded");
      }
      expect((await engine.getInstance(stuck.id))?.status).toBe("active");
      expect(worker.busySlots).toBe(1);
      releaseSlow();
      await expect.poll(async () => (await engine.getInstance(stuck.id))?.status).toBe("succeeded");
    } finally {
      releaseSlow();
      await worker.stop();
    }
  });

  test("a run's last commit leaves its slot: the next instance runs while the database flushes, and a stop waits for both", async () => {
    const { engine, store, transport, releaseCommits } = await slowFlushEngine([
      "L-A",
      "L-B",
      "L-C",
    ]);
    const worker = new Worker(engine, {
      slots: 1,
      batchSize: 4,
      idleMs: 5,
      commitsInFlight: 1,
    }).start();
    let stopped = false;
    try {
      // One slot: the second call can only be made while the first run's commit is in flight.
      await expect.poll(() => transport.count("/loan/apply")).toBe(2);
      expect(worker.busySlots).toBe(1);
      expect(worker.inFlight).toBe(2);
      // One run may wait on its commit (commitsInFlight): the third waits for a slot.
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(transport.count("/loan/apply")).toBe(2);
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(stopped).toBe(false);
      releaseCommits();
      await stopping;
      const settled = await store.listInstances({ status: ["succeeded"] });
      expect(settled.map((instance) => instance.businessKey).sort()).toEqual(["L-A", "L-B"]);
      expect(worker.inFlight).toBe(0);
    } finally {
      releaseCommits();
      if (!stopped) await worker.stop();
    }
  });

  test("by default four runs per slot may wait on their last commits; the next keeps its slot", async () => {
    const keys = ["L-1", "L-2", "L-3", "L-4", "L-5", "L-6", "L-7"];
    const { engine, store, transport, releaseCommits } = await slowFlushEngine(keys);
    const worker = new Worker(engine, { slots: 1, batchSize: 8, idleMs: 5 }).start();
    try {
      // Four runs wait on their commits, a fifth keeps the one slot waiting on its own.
      await expect.poll(() => transport.count("/loan/apply")).toBe(5);
      expect(worker.inFlight).toBe(5);
      expect(worker.busySlots).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(transport.count("/loan/apply")).toBe(5);
      releaseCommits();
      await expect
        .poll(async () => (await store.listInstances({ status: ["succeeded"] })).length)
        .toBe(keys.length);
    } finally {
      releaseCommits();
      await worker.stop();
    }
  });

  test("a run that gave up its slot and lease goes no further, even if its commit left it due", async () => {
    // A's call is not sent; its retry is due 20 ms later, so its commit gives the lease (and the
    // slot) up. That commit takes longer than the wait: A is due when it returns.
    const channel = structuredClone(testChannel);
    channel.interfaces["loan.apply"]!.retry = { schedule: ["20ms"], on: ["notSent"] };
    class SlowRetryCommits extends MemoryInstanceStore {
      override async commitTransition(transition: Transition) {
        if (transition.log?.event === "retry") await new Promise((r) => setTimeout(r, 150));
        return super.commitTransition(transition);
      }
    }
    const store = new SlowRetryCommits();
    const transport = new ScriptedTransport();
    let answerB!: () => void;
    const bAnswered = new Promise<void>((resolve) => (answerB = resolve));
    transport.script(
      "/loan/apply",
      { fault: "notSent" },
      { hang: bAnswered.then(() => ({ body: { status: "SUCCESS" } })) },
      { body: { status: "SUCCESS" } },
    );
    const engine = new Engine({
      store,
      transport,
      processors: new ProcessorRegistry(),
      definitions: new MemoryDefinitionSource({ channels: [channel], behaviors: [loanBehavior()] }),
    });
    const start = (key: string) =>
      engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: key,
        input: { loanNo: key },
      });
    const a = await start("A");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const b = await start("B");
    const worker = new Worker(engine, { slots: 1, batchSize: 4, idleMs: 5 }).start();
    try {
      // B holds the one slot in its call (A's refused call is not recorded: it never left).
      // A's retry waits for the slot: no second call is out.
      await expect.poll(() => transport.count("/loan/apply")).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(
        transport.requests.map((request) => (request.body as { loanNo: string }).loanNo),
      ).toEqual(["B"]);
      answerB();
      await expect
        .poll(async () => (await store.listInstances({ status: ["succeeded"] })).length)
        .toBe(2);
      expect(
        transport.requests.map((request) => (request.body as { loanNo: string }).loanNo),
      ).toEqual(["B", "A"]);
      expect((await engine.getInstance(a.id))?.status).toBe("succeeded");
      expect((await engine.getInstance(b.id))?.status).toBe("succeeded");
    } finally {
      answerB();
      await worker.stop();
    }
  });

  test("a commitsInFlight that is not a whole number is refused, not taken as no bound", async () => {
    const { engine } = await slowFlushEngine([]);
    for (const commitsInFlight of [Number.NaN, -1, 1.5]) {
      expect(() => new Worker(engine, { commitsInFlight })).toThrow(
        /commitsInFlight must be a whole number of 0 or more/,
      );
    }
  });

  test("wake() ends the idle wait: a start is claimed without waiting for the poll interval", async () => {
    const store = new MemoryInstanceStore();
    const transport = new ScriptedTransport();
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
    // An hour between polls: only the wake-up can get the instance claimed within the test.
    const worker = new Worker(engine, { idleMs: 3_600_000 }).start();
    try {
      // Let the first (empty) claim finish so the worker sits in its idle wait.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const started = await engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-woken",
        input: { loanNo: "L-woken" },
      });
      worker.wake();
      await expect
        .poll(async () => (await engine.getInstance(started.id))?.status)
        .toBe("succeeded");
    } finally {
      await worker.stop();
    }
  });
  test("idleClaims counts empty claims while nothing runs here, and sees only the worker's channels", async () => {
    const store = new MemoryInstanceStore();
    const transport = new ScriptedTransport();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    transport.script("/loan/apply", { hang: held.then(() => ({ body: { status: "SUCCESS" } })) });
    const engine = new Engine({
      store,
      transport,
      processors: new ProcessorRegistry(),
      definitions: new MemoryDefinitionSource({
        channels: [testChannel, { ...testChannel, code: "otherbank" }],
        behaviors: [loanBehavior(), { ...loanBehavior(), channel: "otherbank" }],
      }),
    });
    // Due, but for a channel this worker does not run: it stays idle all the same.
    await engine.start({
      channel: "otherbank",
      behavior: "loan",
      businessKey: "O-1",
      input: { loanNo: "O-1" },
    });
    const worker = new Worker(engine, { idleMs: 5, channels: ["lanbank"] }).start();
    try {
      await expect.poll(() => worker.idleClaims).toBeGreaterThanOrEqual(2);
      const started = await engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-1",
        input: { loanNo: "L-1" },
      });
      // Held at the partner: the worker has work, however many claims come back empty meanwhile.
      await expect.poll(() => transport.count("/loan/apply")).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(worker.idleClaims).toBe(0);
      release();
      await expect
        .poll(async () => (await engine.getInstance(started.id))?.status)
        .toBe("succeeded");
      await expect.poll(() => worker.idleClaims).toBeGreaterThanOrEqual(2);
      expect((await store.listInstances({ channel: "otherbank" }))[0]?.status).toBe("active");
    } finally {
      await worker.stop();
    }
  });
});

/**
 * An engine over a store whose commits that settle an instance are held until
 * `releaseCommits()` (a slow WAL flush), with one started instance per key and a funder that
 * answers at once.
 */
async function slowFlushEngine(keys: readonly string[]) {
  let releaseCommits!: () => void;
  const flushed = new Promise<void>((resolve) => (releaseCommits = resolve));
  class SlowFlushStore extends MemoryInstanceStore {
    override async commitTransition(transition: Transition) {
      if (transition.changes.status === "succeeded") await flushed;
      return super.commitTransition(transition);
    }
  }
  const store = new SlowFlushStore();
  const transport = new ScriptedTransport();
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
  for (const key of keys) {
    await engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: key,
      input: { loanNo: key },
    });
  }
  return { engine, store, transport, releaseCommits };
}
