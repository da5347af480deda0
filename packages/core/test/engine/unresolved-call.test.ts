import { describe, expect, test } from "vitest";
import { unresolvedCall } from "../../src/engine/unresolved-call.ts";
import type { StepLogEntry } from "../../src/ports/instance-store.ts";

type Entry = Partial<StepLogEntry> & Pick<StepLogEntry, "step" | "event">;

/** A history from its entries, versions counted from 2 (1 is the start). */
function history(...entries: Entry[]): StepLogEntry[] {
  return entries.map((entry, i) => ({
    id: `e${i}`,
    instanceId: "i1",
    version: i + 2,
    attempt: 1,
    startedAt: i,
    durationMs: 0,
    ...entry,
  }));
}

const intent = (serial: string): Entry => ({
  step: "apply",
  event: "intent",
  outcome: `serial:${serial}`,
});
const left = (step: string, event: StepLogEntry["event"], outcome: string, to: string): Entry => ({
  step,
  event,
  outcome,
  fromStep: step,
  toStep: to,
});

describe("unresolvedCall: the last attempt of a call whose outcome nothing established", () => {
  test("an unknown outcome, then polls still processing and a schedule used up", () => {
    const entries = history(
      intent("S1"),
      left("apply", "call", "unknownOutcome", "query"),
      { step: "query", event: "poll", outcome: "processing" },
      left("query", "poll", "exhausted", "manual"),
    );
    expect(unresolvedCall(entries, "apply", 99)).toEqual({
      step: "apply",
      attempt: 1,
      serial: "S1",
      version: 2,
    });
    // Nothing sent at another step counts, and the caller's version bounds what is read.
    expect(unresolvedCall(entries, "query", 99)).toBeUndefined();
    expect(unresolvedCall(entries, "apply", 1)).toBeUndefined();
  });

  test("a worker that stopped after its intent, a park, a partner code nobody knows: unresolved", () => {
    for (const after of [
      [],
      [{ step: "apply", event: "error", outcome: "TRANSPORT_UNKNOWN_OUTCOME" } as Entry],
      [left("apply", "call", "unknown", "query")],
      [{ step: "apply", event: "retry", outcome: "invalidResponse" } as Entry],
      [{ step: "apply", event: "operator", outcome: "moveTo:manual", toStep: "manual" } as Entry],
      [
        left("apply", "call", "unknownOutcome", "wait"),
        left("wait", "callback", "deadline", "manual"),
      ],
      [
        left("apply", "call", "unknownOutcome", "query"),
        left("query", "poll", "resendsExhausted", "manual"),
      ],
    ]) {
      expect(unresolvedCall(history(intent("S1"), ...after), "apply", 99)?.serial).toBe("S1");
    }
  });

  test("an answer, a request that never left, or a query or notification that took a route: settled", () => {
    for (const after of [
      [left("apply", "call", "failed", "rejected")],
      [{ step: "apply", event: "retry", outcome: "failed:BUSY" } as Entry],
      [{ step: "apply", event: "retry", outcome: "notSent" } as Entry],
      [left("apply", "call", "unknownOutcome", "query"), left("query", "poll", "failed", "failed")],
      [
        left("apply", "call", "unknownOutcome", "query"),
        left("query", "poll", "notReceived", "apply"),
      ],
      [
        left("apply", "call", "unknownOutcome", "wait"),
        left("wait", "callback", "succeeded", "disbursed"),
      ],
    ]) {
      expect(unresolvedCall(history(intent("S1"), ...after), "apply", 99)).toBeUndefined();
    }
  });

  test("only the last attempt counts", () => {
    const entries = history(
      intent("S1"),
      left("apply", "call", "unknownOutcome", "query"),
      left("query", "poll", "exhausted", "manual"),
      { step: "manual", event: "operator", outcome: "moveTo:apply", toStep: "apply" },
      intent("S2"),
      left("apply", "call", "succeeded", "disbursed"),
    );
    expect(unresolvedCall(entries, "apply", 99)).toBeUndefined();
    expect(unresolvedCall(entries, "apply", 6)?.serial).toBe("S2");
    expect(unresolvedCall(entries, "apply", 5)?.serial).toBe("S1");
  });
});
