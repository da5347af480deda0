import { describe, expect, test } from "vitest";
import { isError } from "../../src/definition/problem.ts";
import type { BehaviorDefinition, CallStep } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { testChannel } from "../support/loan-definitions.ts";

/** A cached query: one call, then a second one, each ending in a terminal step. */
function trialQuery(): BehaviorDefinition {
  return {
    channel: "lanbank",
    code: "repay-trial",
    cache: { key: "input.loanNo", lifetime: "cutoff" },
    initial: "ask",
    steps: {
      ask: {
        kind: "call",
        interface: "loan.query",
        request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
        routes: [{ when: "outcome == 'succeeded'", to: "plan" }],
        otherwise: "failed",
        onRetryExhausted: "failed",
      },
      plan: {
        kind: "call",
        interface: "loan.query",
        request: { format: "json", body: { loanNo: "{{input.loanNo}}", plan: "true" } },
        routes: [{ when: "outcome == 'succeeded'", to: "answered" }],
        otherwise: "failed",
        onRetryExhausted: "failed",
      },
      answered: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
    },
  };
}

function problemsOf(behavior: BehaviorDefinition) {
  return validateDefinitions({
    channels: [{ file: "lanbank.channel.json", definition: testChannel }],
    behaviors: [{ file: "lanbank.repay-trial.behavior.json", definition: behavior }],
  }).problems;
}

function withoutRetryExhausted(behavior: BehaviorDefinition, step: string): BehaviorDefinition {
  delete (behavior.steps[step] as CallStep).onRetryExhausted;
  return behavior;
}

describe("a cached query's calls must end when their retries are used up", () => {
  test("a call without onRetryExhausted is a warning at the step, saying what to add", () => {
    const problems = problemsOf(withoutRetryExhausted(trialQuery(), "plan"));
    expect(problems).toEqual([
      {
        code: "query-call-may-park",
        severity: "warning",
        file: "lanbank.repay-trial.behavior.json",
        pointer: "/steps/plan",
        message: expect.stringMatching(
          /^call step "plan" of the cached query "lanbank\/repay-trial" has no "onRetryExhausted": .*parked for an operator.*; add "onRetryExhausted" to a terminal step with outcome "failed"$/,
        ),
      },
    ]);
    // A warning: the definitions stay usable.
    expect(problems.some(isError)).toBe(false);
  });

  test("each call is checked on its own", () => {
    const behavior = withoutRetryExhausted(withoutRetryExhausted(trialQuery(), "ask"), "plan");
    expect(problemsOf(behavior).map((problem) => problem.pointer)).toEqual([
      "/steps/ask",
      "/steps/plan",
    ]);
  });

  test("every call routing its used-up retries somewhere is fine", () => {
    expect(problemsOf(trialQuery())).toEqual([]);
  });

  test("a behavior without cache has no askers waiting: nothing is reported", () => {
    const behavior = withoutRetryExhausted(trialQuery(), "ask");
    delete behavior.cache;
    expect(problemsOf(behavior)).toEqual([]);
  });
});
