import { describe, expect, test } from "vitest";
import { BehaviorMachine, type MachineSnapshot } from "../../src/engine/behavior-machine.ts";
import { isCapflowError } from "../../src/errors.ts";
import { loanBehavior } from "../support/loan-definitions.ts";

describe("BehaviorMachine", () => {
  const machine = new BehaviorMachine(loanBehavior(), 3);

  test("starts at the initial step and counts visits", () => {
    expect(machine.initial(100)).toEqual({
      value: "apply",
      context: { visits: { apply: 1 }, enteredAt: 100 },
    });
  });

  test("persisted snapshots survive a JSON round trip and continue where they left off", () => {
    const atWait = machine.advance(machine.initial(100), "wait", 200);
    const restored = JSON.parse(JSON.stringify(atWait)) as MachineSnapshot;
    const atQuery = machine.advance(restored, "query", 300);
    expect(atQuery).toEqual({
      value: "query",
      context: { visits: { apply: 1, wait: 1, query: 1 }, enteredAt: 300 },
    });
    const done = machine.advance(
      JSON.parse(JSON.stringify(atQuery)) as MachineSnapshot,
      "disbursed",
      400,
    );
    expect(done.value).toBe("disbursed");
  });

  test("an edge the graph does not have cannot be taken", () => {
    const error = (() => {
      try {
        machine.advance(machine.initial(0), "manual", 1);
      } catch (e) {
        return e;
      }
    })();
    expect(isCapflowError(error, "DEFINITION_INVALID")).toBe(true);
    expect((error as Error).message).toContain('"apply" has no way to "manual"');
  });

  test("terminal steps are final: nothing leaves them along the graph", () => {
    const done = machine.advance(machine.advance(machine.initial(0), "wait", 1), "disbursed", 2);
    expect(() => machine.advance(done, "query", 3)).toThrow(/no way/);
  });

  test("an operator may move anywhere, and a re-entered step counts a new visit", () => {
    const manual = machine.moveTo(machine.advance(machine.initial(0), "query", 1), "manual", 2);
    const back = machine.moveTo(manual, "query", 3);
    expect(back).toEqual({
      value: "query",
      context: { visits: { apply: 1, query: 2, manual: 1 }, enteredAt: 3 },
    });
    expect(() => machine.moveTo(back, "nowhere", 4)).toThrow(/does not exist/);
  });
});
