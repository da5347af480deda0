import { describe, expect, test } from "vitest";
import { celInputPaths } from "../../src/definition/check-input-reads.ts";
import { compileInputSchema, findUndeclaredInput } from "../../src/definition/input-schema.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";

const channel: ChannelDefinition = {
  code: "bank",
  name: "Bank",
  baseUrl: "https://bank.example.test",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "configurable" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan/apply", idempotent: true } },
};

const inputSchema = {
  type: "object",
  required: ["loanNo", "amount", "borrower"],
  additionalProperties: false,
  properties: {
    loanNo: { type: "string", minLength: 1 },
    amount: { type: "integer", minimum: 1 },
    borrower: {
      type: "object",
      required: ["name"],
      properties: { name: { type: "string" }, phone: { type: "string", pattern: "^1\\d{10}$" } },
    },
    tags: { type: "array", items: { type: "object", properties: { code: { type: "string" } } } },
    extra: { type: "object" },
  },
};

function behaviorReading(body: Record<string, string>, when = 'outcome == "succeeded"') {
  return {
    channel: "bank",
    code: "loan",
    initial: "apply",
    inputSchema,
    steps: {
      apply: {
        kind: "call",
        interface: "loan.apply",
        request: { format: "json", body },
        routes: [{ when, to: "done" }],
        otherwise: "failed",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
    },
  } satisfies BehaviorDefinition;
}

function problemsOf(behavior: BehaviorDefinition) {
  return validateDefinitions({
    channels: [{ file: "bank.channel.json", definition: channel }],
    behaviors: [{ file: "loan.behavior.json", definition: behavior }],
  }).problems;
}

describe("behavior input schemas at validate", () => {
  test("templates and expressions that read declared fields pass", () => {
    const behavior = behaviorReading(
      {
        loanNo: "{{input.loanNo}}",
        amount: "{{toCents input.amount}}",
        name: "{{#if input.borrower.phone}}{{input.borrower.name}}{{/if}}",
        first: "{{input.tags.[0].code}} {{input.tags.length}} {{input.extra.anything.below}}",
      },
      'outcome == "succeeded" && input.amount > 100 && input.borrower["name"] != ""',
    );
    expect(problemsOf(behavior)).toEqual([]);
  });

  test("a template reading an undeclared field is reported with the closest name", () => {
    const problems = problemsOf(
      behaviorReading({ amount: "{{toCents input.amout}}", phone: "{{input.borrower.phon}}" }),
    );
    expect(problems.map((p) => [p.code, p.pointer, p.message])).toEqual([
      [
        "undeclared-input",
        "/steps/apply/request/body/amount",
        `reads input.amout, which the behavior's input schema does not declare; declare "amout" in "inputSchema" or fix the name (did you mean "amount"?)`,
      ],
      [
        "undeclared-input",
        "/steps/apply/request/body/phone",
        `reads input.borrower.phon, which the behavior's input schema does not declare; declare "phon" in "inputSchema" or fix the name (did you mean "phone"?)`,
      ],
    ]);
  });

  test("a CEL expression reading an undeclared field, or a field of a number, is reported", () => {
    const problems = problemsOf(behaviorReading({}, 'input.lonNo != "" && input.amount.cents > 0'));
    expect(problems.map((p) => [p.code, p.pointer, p.message])).toEqual([
      [
        "undeclared-input",
        "/steps/apply/routes/0/when",
        `reads input.lonNo, which the behavior's input schema does not declare; declare "lonNo" in "inputSchema" or fix the name (did you mean "loanNo"?)`,
      ],
      [
        "undeclared-input",
        "/steps/apply/routes/0/when",
        "reads input.amount.cents, which the behavior's input schema does not declare; the schema says input.amount is integer, which has no fields",
      ],
    ]);
  });

  test("a schema that does not compile is reported at /inputSchema", () => {
    const behavior = {
      ...behaviorReading({}),
      inputSchema: { type: "object", requried: ["x"] },
    };
    const problems = problemsOf(behavior);
    expect(problems.map((p) => [p.code, p.pointer])).toEqual([["input-schema", "/inputSchema"]]);
    expect(problems[0]?.message).toMatch(/unknown keyword: "requried"/);
  });

  test("a product's expressions read only what its behaviors' schemas declare", () => {
    const result = validateDefinitions({
      channels: [{ file: "bank.channel.json", definition: channel }],
      behaviors: [{ file: "loan.behavior.json", definition: behaviorReading({}) }],
      products: [
        {
          file: "cash.product.json",
          definition: {
            code: "cash",
            name: "Cash loan",
            amount: "input.amout",
            customer: "input.borrower.name",
            channels: [
              {
                channel: "bank",
                behavior: "loan",
                weight: 1,
                when: "input.amount > 100 && input.tag == 'x'",
              },
            ],
          },
        },
      ],
    });
    expect(result.problems.map((p) => [p.file, p.code, p.pointer, p.message])).toEqual([
      [
        "cash.product.json",
        "undeclared-input",
        "/amount",
        'reads input.amout, which the input schema of bank/loan does not declare; declare it there or fix the name (did you mean "amount"?)',
      ],
      [
        "cash.product.json",
        "undeclared-input",
        "/channels/0/when",
        'reads input.tag, which the input schema of bank/loan does not declare; declare it there or fix the name (did you mean "tags"?)',
      ],
    ]);
  });

  test("a behavior without a schema reads anything", () => {
    const { inputSchema: _none, ...behavior } = behaviorReading({ x: "{{input.whatever}}" });
    expect(problemsOf(behavior)).toEqual([]);
  });
});

describe("input paths", () => {
  test.each([
    ["input.a.b > 1", [["a", "b"]]],
    ['input["a"].b == "x"', [["a", "b"]]],
    ["has(input.a.c) && fields.x == input.d", [["a", "c"], ["d"]]],
    ["input.list[fields.i].x == 1", [["list"], ["i"]].slice(0, 1)],
    ["input.list.exists(item, item.code == input.code)", [["list"], ["code"]]],
    ["context.input.x == 1", []],
  ])("%s reads %j", (text, expected) => {
    expect(celInputPaths(text)).toEqual(expected);
  });

  test("$ref, allOf and patternProperties declare fields", () => {
    const schema = {
      definitions: { person: { type: "object", properties: { name: { type: "string" } } } },
      allOf: [
        { properties: { borrower: { $ref: "#/definitions/person" } } },
        { properties: { meta: { patternProperties: { "^x-": { type: "string" } } } } },
        { required: ["borrower"] },
      ],
    };
    expect(findUndeclaredInput(schema, ["borrower", "name"])).toBeUndefined();
    expect(findUndeclaredInput(schema, ["meta", "x-trace"])).toBeUndefined();
    expect(findUndeclaredInput(schema, ["borrower", "nmae"])).toMatchObject({
      path: "input.borrower.nmae",
      declared: ["name"],
    });
    expect(findUndeclaredInput(schema, ["meta", "trace"])).toMatchObject({ name: "trace" });
  });
});

describe("input checks", () => {
  test("field problems carry JSON pointers and never the values", () => {
    const compiled = compileInputSchema(inputSchema);
    if (!compiled.ok) throw new Error(compiled.message);
    const problems = compiled.validate({
      loanNo: "",
      amount: "100",
      borrower: { phone: "13800138000x" },
      amonut: 5,
    });
    expect(problems).toEqual([
      { pointer: "/amonut", message: 'is not a field of this input (did you mean "amount"?)' },
      { pointer: "/loanNo", message: "must NOT have fewer than 1 characters" },
      { pointer: "/amount", message: "must be an integer" },
      { pointer: "/borrower/name", message: "is required" },
      { pointer: "/borrower/phone", message: 'must match pattern "^1\\d{10}$"' },
    ]);
    expect(JSON.stringify(problems)).not.toContain("13800138000");
  });

  test("formats are checked", () => {
    const compiled = compileInputSchema({
      type: "object",
      properties: { day: { type: "string", format: "date" } },
    });
    if (!compiled.ok) throw new Error(compiled.message);
    expect(compiled.validate({ day: "2026-02-30" })).toEqual([
      { pointer: "/day", message: 'must match format "date"' },
    ]);
    expect(compiled.validate({ day: "2026-02-28" })).toEqual([]);
  });
});
