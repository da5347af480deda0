import { describe, expect, test } from "vitest";
import { describeFieldChange, diffDefinitions } from "../../src/change/diff-definitions.ts";
import { analyzePushImpact } from "../../src/change/push-impact.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";

const channel: ChannelDefinition = {
  code: "bank",
  name: "Bank",
  baseUrl: "http://bank.test",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {
    "loan.apply": { method: "POST", path: "/apply", idempotent: true },
    "loan.query": { method: "POST", path: "/query", idempotent: true },
  },
  callbacks: {
    "loan.result": {
      format: "json",
      correlation: "body.no",
      dedupeKey: "body.id",
      ack: { format: "json", body: { code: "0" } },
    },
  },
};

/** apply (call) -> wait (callback) -> query (poll) -> done; apply renders with `toCents`. */
const loan: BehaviorDefinition = {
  channel: "bank",
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      request: { format: "json", body: { amount: "{{toCents input.amount}}" } },
      routes: [{ when: "outcome == 'succeeded'", to: "wait" }],
      otherwise: "failed",
    },
    wait: {
      kind: "callback",
      callback: "loan.result",
      deadline: "1h",
      onDeadline: "query",
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      otherwise: "failed",
    },
    query: {
      kind: "poll",
      interface: "loan.query",
      request: { format: "json", body: {} },
      schedule: ["1m"],
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      onExhausted: "failed",
    },
    done: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
  },
};

async function running(steps: Record<string, number>) {
  const store = new MemoryInstanceStore();
  let n = 0;
  for (const [step, count] of Object.entries(steps)) {
    for (let i = 0; i < count; i++) {
      n++;
      await store.createInstance({
        id: `i-${String(n).padStart(3, "0")}`,
        channel: "bank",
        behavior: "loan",
        businessKey: `L-${n}`,
        behaviorVersion: 1,
        inputDigest: "d",
        input: {},
        step,
        status: "waiting",
        context: {},
        snapshot: { value: step, context: { visits: {}, enteredAt: 0 } },
        nextRunAt: 1,
        now: n,
      });
    }
  }
  return store;
}

function without<T extends object>(value: T, path: string[]): T {
  const copy = structuredClone(value) as Record<string, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  delete at[path.at(-1)!];
  return copy as T;
}

describe("what a push would break", () => {
  test("a removed interface breaks the instances whose steps ahead call it, not those past it", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    const instances = await running({ apply: 1, wait: 2, query: 3 });
    const next = without(channel, ["interfaces", "loan.apply"]);
    // A new version of the behavior that no longer applies: new instances are fine.
    const replaced = { ...loan, initial: "wait" };
    const breaking = await analyzePushImpact({
      incoming: { channels: [next], behaviors: [replaced] },
      definitions,
      instances,
    });
    expect(breaking).toEqual([
      expect.objectContaining({
        kind: "interface-missing",
        name: "loan.apply",
        version: 1,
        instances: 1,
        byStep: [{ step: "apply", count: 1 }],
        examples: [{ id: "i-001", businessKey: "L-1" }],
        activeVersion: false,
        message:
          'bank: interface "loan.apply" is removed, but 1 instance of bank/loan version 1 still needs it',
      }),
    ]);
  });

  test("a removed callback counts every instance that may still wait for it", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    const instances = await running({ apply: 1, wait: 2, query: 3 });
    const [change] = await analyzePushImpact({
      incoming: { channels: [without(channel, ["callbacks", "loan.result"])], behaviors: [] },
      definitions,
      instances,
    });
    expect(change).toMatchObject({
      kind: "callback-missing",
      instances: 3,
      byStep: [
        { step: "apply", count: 1 },
        { step: "wait", count: 2 },
      ],
      // The behavior is not pushed: new instances start on version 1 and wait for it too.
      activeVersion: true,
    });
    expect(change?.message).toContain("and new instances start on bank/loan version 1");
  });

  test("an interface that stops being idempotent under a version that cannot ask breaks it", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    const instances = await running({ apply: 2 });
    const next = structuredClone(channel);
    next.interfaces["loan.apply"]!.idempotent = false;
    const breaking = await analyzePushImpact({
      incoming: { channels: [next], behaviors: [] },
      definitions,
      instances,
    });
    expect(breaking).toEqual([
      expect.objectContaining({ kind: "resend-unsafe", name: "apply", instances: 2 }),
    ]);
  });

  test("templates still to render must name registered processors", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    const instances = await running({ apply: 1, wait: 1 });
    const breaking = await analyzePushImpact({
      incoming: { channels: [channel], behaviors: [{ ...loan, initial: "wait" }] },
      definitions,
      instances,
      processors: { hasProcessor: (name) => name !== "toCents" },
    });
    expect(breaking).toEqual([
      expect.objectContaining({ kind: "unknown-processor", name: "toCents", instances: 1 }),
    ]);
  });

  test("an unchanged channel breaks nothing; instances at a step their version lacks are reported", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    expect(
      await analyzePushImpact({
        incoming: { channels: [channel], behaviors: [] },
        definitions,
        instances: await running({ apply: 1, wait: 1, query: 1 }),
      }),
    ).toEqual([]);
    const lost = await analyzePushImpact({
      incoming: { channels: [channel], behaviors: [] },
      definitions,
      instances: await running({ gone: 2 }),
    });
    expect(lost).toEqual([
      expect.objectContaining({ kind: "step-missing", name: "gone", instances: 2 }),
    ]);
  });
});

describe("what a push would change", () => {
  test("field by field per channel and behavior; key order and $schema do not count", async () => {
    const definitions = new MemoryDefinitionSource({ channels: [channel], behaviors: [loan] });
    const next = structuredClone(channel);
    next.interfaces["loan.query"]!.timeout = "15s";
    next.baseUrl = "http://bank-2.test";
    delete next.callbacks;
    const reordered = {
      $schema: "x",
      steps: loan.steps,
      initial: "apply",
      code: "loan",
      channel: "bank",
    };
    const added: BehaviorDefinition = { ...loan, code: "repay" };
    const diff = await diffDefinitions(
      { channels: [next], behaviors: [reordered as BehaviorDefinition, added] },
      definitions,
    );
    expect(diff.channels[0]?.change).toBe("changed");
    expect(diff.channels[0]?.fields.map(describeFieldChange).sort()).toEqual([
      '+ interface loan.query timeout = "15s"',
      "- callback loan.result",
      '~ baseUrl: "http://bank.test" → "http://bank-2.test"',
    ]);
    expect(diff.behaviors).toEqual([
      expect.objectContaining({ code: "loan", change: "unchanged", activeVersion: 1 }),
      expect.objectContaining({ code: "repay", change: "added" }),
    ]);

    const moved = structuredClone(loan);
    delete moved.steps.query;
    (moved.steps.wait as { onDeadline: string }).onDeadline = "failed";
    const [behavior] = (await diffDefinitions({ channels: [], behaviors: [moved] }, definitions))
      .behaviors;
    expect(behavior).toMatchObject({
      change: "changed",
      steps: { added: [], removed: ["query"], changed: ["wait"] },
    });
    expect(behavior?.fields.map(describeFieldChange)).toContain(
      '~ step wait onDeadline: "query" → "failed"',
    );
  });
});
