import { describe, expect, test } from "vitest";
import { rootNames } from "../../src/definition/expression-names.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

function problemsOf(when: string) {
  const behavior = loanBehavior();
  const apply = behavior.steps.apply;
  if (apply?.kind !== "call") throw new Error("apply is a call");
  apply.routes = [{ when, to: "wait" }, ...(apply.routes ?? []).slice(1)];
  return validateDefinitions({
    channels: [{ file: "lanbank.channel.json", definition: testChannel }],
    behaviors: [{ file: "lanbank.loan.behavior.json", definition: behavior }],
  }).problems;
}

describe("route conditions are checked like the runtime runs them", () => {
  test("a misspelt variable is a validation problem, with a suggestion", () => {
    const problems = problemsOf("inptu.amount > 100");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: "invalid-expression",
      pointer: "/steps/apply/routes/0/when",
    });
    expect(problems[0]?.message).toContain('reads "inptu"');
    expect(problems[0]?.message).toContain('did you mean "input"?');
  });

  test("optional fields, macros, functions and literals of CEL pass", () => {
    for (const when of [
      "body.?result.code.orValue('') == 'SUCCESS'",
      "outcome == 'processing' && fields.items.exists(item, item.amount > 0)",
      "has(body.data) && type(body.data.amount) == int && code in ['A', 'B']",
      "context.apply.applyNo != '' && input.amount >= 100 && status == 200",
      "body.list.map(x, x.id).size() > 0 && 'inptu.x' != ''",
    ]) {
      expect(problemsOf(when), when).toEqual([]);
    }
  });

  test("rootNames finds only the variables an expression reads", () => {
    expect(rootNames("inptu.amount > 0 && body.?a.b.orValue(1) == 1")).toEqual(["inptu", "body"]);
    expect(rootNames("list.all(v, v > 0) && fields.n > 0")).toEqual(["fields"]);
  });
});
