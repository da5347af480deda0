import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import {
  formatProblems,
  type Problem,
  problemCodes,
  sortProblems,
} from "../../src/definition/problem.ts";

const problems: Problem[] = [
  {
    code: "unknown-step",
    file: "b.behavior.json",
    pointer: "/initial",
    line: 4,
    column: 3,
    message: "second",
  },
  { code: "schema", file: "a.channel.json", pointer: "", message: "root problem" },
  {
    code: "dead-end",
    file: "b.behavior.json",
    pointer: "/steps/x",
    line: 2,
    column: 5,
    message: "first",
  },
];

describe("problems", () => {
  test("sort by file, then position", () => {
    expect(sortProblems(problems).map((problem) => problem.message)).toEqual([
      "root problem",
      "first",
      "second",
    ]);
  });

  test("format like a compiler: location first, files separated, a summary", () => {
    expect(formatProblems(problems)).toBe(
      [
        "a.channel.json  root problem  (/)  [schema]",
        "",
        "b.behavior.json:2:5  first  (/steps/x)  [dead-end]",
        "b.behavior.json:4:3  second  (/initial)  [unknown-step]",
        "",
        "3 problems in 2 files",
        "",
      ].join("\n"),
    );
    expect(formatProblems([])).toBe("no problems\n");
  });

  test("docs/authoring.md explains every problem code", () => {
    const guide = readFileSync(new URL("../../../../docs/authoring.md", import.meta.url), "utf8");
    // One table row per code; the formatter pads table cells.
    const listed = (code: string) => new RegExp(`^\\|\\s*\`${code}\`\\s*\\|`, "m").test(guide);
    const missing = Object.keys(problemCodes).filter((code) => !listed(code));
    expect(missing).toEqual([]);
  });
});
