import { describe, expect, it } from "vitest";
import type { Route, StatusTable } from "../../src/definition/types.ts";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import { checkExpression, evaluateExpression, parseExpression } from "../../src/message/cel.ts";
import { chooseRoute, findRoute } from "../../src/message/choose-route.ts";
import { extractFields } from "../../src/message/extract-fields.ts";
import { applyStatusTable } from "../../src/message/status-table.ts";

function thrown(fn: () => unknown): CapflowError {
  try {
    fn();
  } catch (error) {
    if (isCapflowError(error)) return error;
    throw error;
  }
  throw new Error("expected an error");
}

const response = {
  status: 200,
  headers: { "x-request-id": "R1" },
  body: {
    head: { code: "0000", msg: "成功" },
    data: {
      loanNo: "L9",
      amount: 150000,
      rate: 0.0365,
      cardNo: "6222020000000000123",
      items: [{ k: 1 }],
    },
  },
};

describe("CEL numbers and strings", () => {
  it("compares JSON integers and doubles with int and double literals", () => {
    const fields = { amount: 150, rate: 0.5, code: "0000", big: 2 ** 60 };
    for (const [expression, expected] of [
      ["fields.amount > 100", true],
      ["fields.amount == 150", true],
      ["fields.amount * 2 == 300", true],
      ["fields.amount > 100.5", true],
      ["fields.rate < 1", true],
      ["fields.rate == 0.5", true],
      ['fields.code == "0000"', true],
      ["fields.code == 0", false],
      ["status == 200", true],
    ] as const) {
      expect(evaluateExpression(expression, { fields, status: 200 }), expression).toBe(expected);
    }
  });

  it("returns plain JSON values", () => {
    expect(evaluateExpression("body.data.amount + 1", response)).toBe(150001);
    expect(evaluateExpression("body.data.items", response)).toEqual([{ k: 1 }]);
    expect(evaluateExpression("body.data.items.size()", response)).toBe(1);
    expect(evaluateExpression("body.?data.missing.orValue('d')", response)).toBe("d");
  });

  it("parses once and caches by text", () => {
    expect(parseExpression("1 + 1")).toBe(parseExpression("1 + 1"));
  });

  it("reports syntax errors as ROUTE_EXPRESSION_INVALID, and checks without throwing", () => {
    expect(thrown(() => parseExpression("body.code ==")).code).toBe("ROUTE_EXPRESSION_INVALID");
    expect(checkExpression("body.code == '0000'")).toEqual({ valid: true });
    expect(checkExpression("body.code ==")).toMatchObject({ valid: false });
    expect(checkExpression('1 + "a"')).toMatchObject({
      valid: false,
      message: expect.stringContaining("overload"),
    });
  });
});

describe("extractFields", () => {
  it("extracts over body, headers and status, missing paths giving null", () => {
    const fields = extractFields(
      {
        loanNo: "body.data.loanNo",
        amount: "body.data.amount",
        rate: "body.data.rate",
        code: "body.head.code",
        requestId: 'headers["x-request-id"]',
        status: "status",
        missing: "body.data.nothing.deeper",
        withDefault: "body.?data.nothing.orValue('none')",
        present: "has(body.data.loanNo)",
      },
      response,
    );
    expect(fields).toEqual({
      loanNo: "L9",
      amount: 150000,
      rate: 0.0365,
      code: "0000",
      requestId: "R1",
      status: 200,
      missing: null,
      withDefault: "none",
      present: true,
    });
  });

  it("fails with EXTRACT_FAILED naming the field for other errors", () => {
    const error = thrown(() =>
      extractFields({ bad: "body.head.code + 1" }, response, { step: "apply" }),
    );
    expect(error.code).toBe("EXTRACT_FAILED");
    expect(error.context).toMatchObject({ step: "apply", field: "bad" });
  });
});

describe("applyStatusTable", () => {
  const table: StatusTable = {
    code: "body.head.code",
    codes: {
      "0000": { outcome: "succeeded", description: "受理成功" },
      "1001": { outcome: "failed", retryable: true, description: "系统繁忙" },
      "2000": { outcome: "processing" },
    },
  };

  it("maps partner codes to outcomes", () => {
    expect(applyStatusTable(table, response)).toEqual({
      code: "0000",
      outcome: "succeeded",
      retryable: false,
      description: "受理成功",
    });
    const busy = { ...response, body: { head: { code: "1001" } } };
    expect(applyStatusTable(table, busy)).toMatchObject({
      code: "1001",
      outcome: "failed",
      retryable: true,
    });
  });

  it("matches numeric codes as text and takes the default for unknown or missing codes", () => {
    const numeric = { ...response, body: { head: { code: 2000 } } };
    expect(applyStatusTable(table, numeric).outcome).toBe("processing");
    expect(applyStatusTable(table, { ...response, body: { head: { code: "9" } } })).toEqual({
      code: "9",
      outcome: "unknown",
      retryable: false,
    });
    expect(applyStatusTable(table, { ...response, body: {} }).code).toBeNull();
    const withDefault: StatusTable = {
      ...table,
      default: { outcome: "failed", description: "其他" },
    };
    expect(applyStatusTable(withDefault, { ...response, body: {} }).outcome).toBe("failed");
  });

  it("does not match inherited keys", () => {
    const proto = { ...response, body: { head: { code: "constructor" } } };
    expect(applyStatusTable(table, proto).outcome).toBe("unknown");
  });
});

describe("chooseRoute", () => {
  const routes: Route[] = [
    { when: 'outcome == "succeeded" && fields.amount > 100000', to: "bigLoan" },
    { when: 'outcome == "succeeded"', to: "done" },
    { when: 'outcome == "failed" && input.channelRetry == true', to: "retry" },
  ];
  const env = {
    outcome: "succeeded",
    fields: { amount: 150000 },
    body: response.body,
    context: {},
    input: {},
    status: 200,
  };

  it("takes the first matching route", () => {
    expect(chooseRoute(routes, "manual", env, { step: "apply" })).toEqual({
      to: "bigLoan",
      index: 0,
    });
    expect(chooseRoute(routes, "manual", { ...env, fields: { amount: 5 } })).toEqual({
      to: "done",
      index: 1,
    });
    expect(
      chooseRoute(routes, "manual", { ...env, outcome: "failed", input: { channelRetry: true } }),
    ).toEqual({ to: "retry", index: 2 });
  });

  it("falls back to otherwise, or fails with ROUTE_NO_MATCH", () => {
    expect(chooseRoute(routes, "manual", { ...env, outcome: "processing" })).toEqual({
      to: "manual",
      index: null,
    });
    expect(findRoute(routes, { ...env, outcome: "processing" })).toBeUndefined();
    const error = thrown(() =>
      chooseRoute(routes, undefined, { ...env, outcome: "processing" }, { step: "apply" }),
    );
    expect(error.code).toBe("ROUTE_NO_MATCH");
    expect(error.context.step).toBe("apply");
  });

  it("fails with ROUTE_EVALUATION_FAILED naming step and route for non-boolean or failing conditions", () => {
    const nonBoolean = thrown(() =>
      chooseRoute([{ when: "fields.amount", to: "x" }], "y", env, { step: "apply" }),
    );
    expect(nonBoolean.code).toBe("ROUTE_EVALUATION_FAILED");
    expect(nonBoolean.context).toMatchObject({
      step: "apply",
      route: 0,
      pointer: "/steps/apply/routes/0",
    });
    const missing = thrown(() =>
      chooseRoute([{ when: "true && fields.nothing == 1", to: "x" }], "y", env, { step: "apply" }),
    );
    expect(missing.code).toBe("ROUTE_EVALUATION_FAILED");
  });

  it("fails with ROUTE_EXPRESSION_INVALID for a condition that does not parse", () => {
    const error = thrown(() =>
      chooseRoute([{ when: "outcome ==", to: "x" }], "y", env, { step: "apply" }),
    );
    expect(error.code).toBe("ROUTE_EXPRESSION_INVALID");
    expect(error.context.route).toBe(0);
  });

  it("sees context and input", () => {
    const route = chooseRoute(
      [{ when: 'context.product == "A" && input.term >= 12', to: "long" }],
      "short",
      { ...env, context: { product: "A" }, input: { term: 12 } },
    );
    expect(route.to).toBe("long");
  });
});
