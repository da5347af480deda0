import stringWidth from "string-width";
import { describe, expect, it } from "vitest";
import { textTable } from "../src/text-table.ts";

describe("textTable", () => {
  it("escapes control characters in stored text: a line break fakes no row, ESC hides no column", () => {
    const lines = textTable(
      ["id", "why"],
      [["tok_1", "rotated\ntok_2  admin  forged row\x1b[8mhidden\x9b\x7f\r\t"]],
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(
      "tok_1  rotated\\ntok_2  admin  forged row\\x1b[8mhidden\\x9b\\x7f\\r\\t",
    );
  });

  it("aligns columns by display width, Chinese text included", () => {
    const lines = textTable(
      ["business key", "customer", "status"],
      [
        ["L001", "张三", "succeeded"],
        ["L002", "Alice", "failed"],
        ["L003", "欧阳娜娜", "manual"],
      ],
    );
    const statusColumns = lines.map((line) =>
      stringWidth(line.slice(0, line.search(/(status|succeeded|failed|manual)$/))),
    );
    expect(new Set(statusColumns).size).toBe(1);
    expect(lines[3]).toBe("L003          欧阳娜娜  manual");
  });
});
