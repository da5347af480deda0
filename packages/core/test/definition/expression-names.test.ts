import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

function problemsOf(change: (channel: ChannelDefinition, behavior: BehaviorDefinition) => void) {
  const channel = structuredClone(testChannel);
  const behavior = loanBehavior();
  change(channel, behavior);
  return validateDefinitions({
    channels: [{ file: "lanbank.channel.json", definition: channel }],
    behaviors: [{ file: "lanbank.loan.behavior.json", definition: behavior }],
  }).problems;
}

function applyStep(behavior: BehaviorDefinition) {
  const apply = behavior.steps.apply;
  if (apply?.kind !== "call") throw new Error("apply is a call");
  return apply;
}

const callback = (channel: ChannelDefinition) => channel.callbacks!["loan.result"]!;

describe("every expression reads only what the runtime gives it", () => {
  test.each([
    {
      where: "an answer's extract",
      pointer: "/steps/apply/response/extract/applyNo",
      name: "answr",
      suggestion: undefined,
      change: (_channel: ChannelDefinition, behavior: BehaviorDefinition) => {
        applyStep(behavior).response = { extract: { applyNo: "answr.code" } };
      },
    },
    {
      where: "an answer's status table code",
      pointer: "/statusTable/code",
      name: "bdy",
      suggestion: "body",
      change: (channel: ChannelDefinition) => {
        channel.statusTable!.code = "bdy.status";
      },
    },
    {
      where: "an interface's status table condition",
      pointer: "/interfaces/loan.apply/statusTable/unsigned",
      name: "stauts",
      suggestion: "status",
      change: (channel: ChannelDefinition) => {
        channel.interfaces["loan.apply"]!.statusTable = {
          code: "body.code",
          codes: {},
          unsigned: "stauts == 400",
        };
      },
    },
    {
      where: "a callback's correlation",
      pointer: "/callbacks/loan.result/correlation",
      name: "bodi",
      suggestion: "body",
      change: (channel: ChannelDefinition) => {
        callback(channel).correlation = "bodi.loanNo";
      },
    },
    {
      where: "a callback's match",
      pointer: "/callbacks/loan.result/match",
      name: "heders",
      suggestion: "headers",
      change: (channel: ChannelDefinition) => {
        callback(channel).match = "heders['x-kind'] == 'loan'";
      },
    },
    {
      where: "a callback's extract (notifications have no HTTP status)",
      pointer: "/callbacks/loan.result/extract/status",
      name: "status",
      suggestion: undefined,
      change: (channel: ChannelDefinition) => {
        callback(channel).extract = { status: "status == 200 ? body.status : ''" };
      },
    },
    {
      where: "a callback's status table",
      pointer: "/callbacks/loan.result/statusTable/code",
      name: "inptu",
      suggestion: undefined,
      change: (channel: ChannelDefinition) => {
        callback(channel).statusTable!.code = "inptu.status";
      },
    },
  ])(
    "a misspelt name in $where is a validation problem",
    ({ pointer, name, suggestion, change }) => {
      const problems = problemsOf(change);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({ code: "invalid-expression", pointer });
      expect(problems[0]?.message).toContain(`reads "${name}"`);
      if (suggestion !== undefined) {
        expect(problems[0]?.message).toContain(`did you mean "${suggestion}"?`);
      }
    },
  );

  test("the names each expression does see pass", () => {
    const problems = problemsOf((channel, behavior) => {
      applyStep(behavior).response = {
        extract: { applyNo: "body.?data.applyNo.orValue(headers['x-no'])", http: "status" },
      };
      channel.interfaces["loan.apply"]!.statusTable = {
        code: "status == 400 ? body.code : body.status",
        codes: {},
        unsigned: "status == 400 && has(body.code)",
      };
      callback(channel).match = "headers['x-kind'] == 'loan' || query.kind == 'loan'";
      callback(channel).correlation = "body.loanNo";
      callback(channel).extract = { status: "body.status", kind: "query.kind" };
    });
    expect(problems).toEqual([]);
  });
});
