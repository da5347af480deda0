import { describe, expect, test } from "vitest";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior } from "../support/loan-definitions.ts";

const withSchema = {
  ...loanBehavior(),
  inputSchema: {
    type: "object",
    required: ["loanNo", "amount", "idCardNo"],
    properties: {
      loanNo: { type: "string" },
      amount: { type: "integer", minimum: 1 },
      idCardNo: { type: "string", pattern: "^\\d{17}[\\dX]$" },
    },
  },
};

describe("engine.start with a behavior input schema", () => {
  test("matching input starts the instance", async () => {
    const h = engineHarness({ behaviors: [withSchema] });
    const started = await h.startLoan("L-1");
    expect(started.status).toBe("active");
  });

  test("invalid input is refused field by field and nothing is stored", async () => {
    const h = engineHarness({ behaviors: [withSchema] });
    const error = await h.startLoan("L-2", { amount: "100", idCardNo: "1101011990030712" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapflowError(error, "INSTANCE_INPUT_INVALID")).toBe(true);
    const refused = error as CapflowError;
    expect(refused.context.problems).toEqual([
      { pointer: "/amount", message: "must be an integer" },
      { pointer: "/idCardNo", message: 'must match pattern "^\\d{17}[\\dX]$"' },
    ]);
    expect(refused.message).not.toContain("1101011990030712");
    expect(
      await h.store.findInstance({ channel: "lanbank", behavior: "loan", businessKey: "L-2" }),
    ).toBeUndefined();
    expect(h.events.filter((event) => event.type === "instance.started")).toEqual([]);
  });
});
