import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, StepDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

/** A pause and a decision that goes to `then` while attempts remain, else fails. */
function retryLoop(then: string): Partial<BehaviorDefinition["steps"]> {
  return {
    cool: { kind: "delay", duration: "1h", next: "recheck" },
    recheck: {
      kind: "decide",
      routes: [{ when: "context.attempts < 3", to: then }],
      otherwise: "rejected",
    },
  };
}

function problemsOf(behavior: BehaviorDefinition) {
  return validateDefinitions({
    channels: [{ file: "lanbank.channel.json", definition: testChannel }],
    behaviors: [{ file: "lanbank.loan.behavior.json", definition: behavior }],
  }).problems.map((problem) => [problem.code, problem.pointer, problem.message]);
}

/** The recovery query's "failed" route goes to the pause instead of ending. */
function queryFailingTo(behavior: BehaviorDefinition, to: string): BehaviorDefinition {
  const query = behavior.steps.query;
  if (query?.kind !== "poll") throw new Error("query is a poll");
  query.routes = [
    { when: "outcome == 'succeeded'", to: "disbursed" },
    { when: "outcome == 'failed'", to },
  ];
  return behavior;
}

describe("the resend-safety check follows paths of any length", () => {
  test("a recovery query → delay → decision → the call it recovers is refused, with the path", () => {
    const behavior = queryFailingTo(loanBehavior(retryLoop("apply")), "cool");
    const problems = problemsOf(behavior);
    expect(problems).toHaveLength(1);
    const [code, pointer, message] = problems[0]!;
    expect([code, pointer]).toEqual(["unsafe-resend", "/steps/recheck/routes/0/to"]);
    expect(message).toContain("query → cool → recheck → apply");
  });

  test("a path back to another non-idempotent call to the same interface is refused too", () => {
    const reapply: StepDefinition = {
      ...(loanBehavior().steps.apply as StepDefinition & { kind: "call" }),
      onUnknownOutcome: "manual",
    };
    const behavior = queryFailingTo(loanBehavior({ ...retryLoop("reapply"), reapply }), "cool");
    expect(problemsOf(behavior).map(([code, pointer]) => [code, pointer])).toEqual([
      ["unsafe-resend", "/steps/recheck/routes/0/to"],
    ]);
  });

  test("the same three steps after the call's own answer, or ending in review, are fine", () => {
    // The call's definite "failed" answer may lead to a later new application.
    const afterAnswer = loanBehavior(retryLoop("apply"));
    const apply = afterAnswer.steps.apply;
    if (apply?.kind !== "call") throw new Error("apply is a call");
    apply.routes = [
      { when: "outcome == 'processing'", to: "wait" },
      { when: "outcome == 'succeeded'", to: "disbursed" },
      { when: "outcome == 'failed'", to: "cool" },
    ];
    expect(problemsOf(afterAnswer)).toEqual([]);
    // From the recovery query, the same kind of path ending in manual review.
    expect(problemsOf(queryFailingTo(loanBehavior(retryLoop("manual")), "cool"))).toEqual([]);
  });
});
