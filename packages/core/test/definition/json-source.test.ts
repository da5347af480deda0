import { describe, expect, test } from "vitest";
import { parseJsonSource } from "../../src/definition/json-source.ts";

describe("parseJsonSource", () => {
  const text = [
    "{",
    "  // comment",
    '  "steps": {',
    '    "a": { "routes": [{ "to": "b" }, { "to": "c" }], },',
    "  },",
    "}",
  ].join("\r\n");

  test("accepts comments and trailing commas, and locates pointers (CRLF line ends)", () => {
    const parsed = parseJsonSource("x.json", text);
    expect(parsed.problems).toEqual([]);
    expect(parsed.value).toEqual({ steps: { a: { routes: [{ to: "b" }, { to: "c" }] } } });
    expect(parsed.locate("")).toEqual({ line: 1, column: 1 });
    expect(parsed.locate("/steps/a")).toEqual({ line: 4, column: 5 });
    expect(parsed.locate("/steps/a/routes/1/to")).toEqual({ line: 4, column: 40 });
    // A missing property falls back to its nearest parent.
    expect(parsed.locate("/steps/a/otherwise")).toEqual({ line: 4, column: 5 });
  });

  test("reports duplicate keys; duplicate keys under steps are duplicate step codes", () => {
    const parsed = parseJsonSource(
      "x.json",
      '{\n  "a": 1,\n  "a": 2,\n  "steps": { "s": {}, "s": {} },\n  "o": { "steps": { "t": 1, "t": 2 } }\n}',
    );
    expect(
      parsed.problems.map(({ code, pointer, line, column }) => [code, pointer, line, column]),
    ).toEqual([
      ["duplicate-key", "/a", 3, 3],
      ["duplicate-code", "/steps/s", 4, 23],
      ["duplicate-key", "/o/steps/t", 5, 29],
    ]);
  });

  test("pointer segments with / and ~ are escaped", () => {
    const parsed = parseJsonSource("x.json", '{\n "a/b": {\n  "c~d": 1 } }');
    expect(parsed.locate("/a~1b/c~0d")).toEqual({ line: 3, column: 3 });
  });

  test("reports syntax errors at their position", () => {
    const parsed = parseJsonSource("x.json", '{\n  "a": 1\n  "b": 2\n}');
    expect(parsed.problems).toEqual([
      {
        code: "syntax",
        file: "x.json",
        pointer: "",
        line: 3,
        column: 3,
        message: "expected `,` between entries; fix the JSON syntax here",
      },
    ]);
  });
});
