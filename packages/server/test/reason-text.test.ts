import { CapflowError } from "@capflow/core";
import { describe, expect, it } from "vitest";
import { checkReasonText } from "../src/ops/reason-text.ts";

const body = "Q2hhbmdlZCBmcm9tIHRoZSBjb25zb2xlIG9uIGNhbGwxx"; // 43 base64url characters, as a token's

const refusal = (reason: string) => {
  try {
    checkReasonText(reason);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(CapflowError);
    return (error as CapflowError).message;
  }
};

describe("checkReasonText", () => {
  it.each([
    ["a line break", "rotated\ntok_x  admin  forged"],
    ["a carriage return", "rotated\rforged"],
    ["a tab", "rotated\tforged"],
    ["an ANSI escape", "rotated\u001b[8m hidden"],
    ["DEL", "rotated\u007f"],
    ["a C1 control", "rotated\u009b8m"],
  ])("refuses %s, saying to send one line of plain text", (_, reason) => {
    expect(refusal(reason)).toMatch(/control character.*one line of plain text/);
  });

  it.each([
    ["the token", `cfo_${body}`],
    ["its body without the prefix", `leaked ${body}`],
    ["an upper-case prefix", `leaked CFO_${body.slice(0, 20)}`],
    ["a zero-width space after cfo", `leaked cfo\u200b_${body.slice(0, 20)}`],
    ["a soft hyphen inside", `leaked cfo_${body.slice(0, 10)}\u00ad${body.slice(10, 20)}`],
    ["full-width letters", `leaked ｃｆｏ＿${body.slice(0, 20)}`],
  ])("refuses %s, saying to name the token by id or name", (_, reason) => {
    expect(refusal(reason)).toMatch(/looks like an operator token.*by its id or name/);
  });

  it("takes an ordinary reason, ids and names included", () => {
    expect(refusal("revoking tok_0123456789abcdef (ci-deploy): pipeline moved to SSO")).toBe(
      undefined,
    );
    expect(refusal("客户要求取消 L-2024-000123")).toBe(undefined);
  });
});
