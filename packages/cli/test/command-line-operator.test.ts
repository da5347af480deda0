import { describe, expect, test } from "vitest";
import { commandLineOperator } from "../src/command-line-operator.ts";

const noPasswdEntry = () => {
  throw Object.assign(new Error("A system error occurred: uv_os_get_passwd returned ENOENT"), {
    code: "ERR_SYSTEM_ERROR",
  });
};

describe("commandLineOperator", () => {
  test("--who is recorded as given, marked as from the command line", () => {
    expect(commandLineOperator("ops-bot", noPasswdEntry)).toBe("cli:ops-bot");
  });

  test("a uid with no passwd entry falls back to $USER, else the uid, instead of throwing", () => {
    const saved = process.env.USER;
    try {
      process.env.USER = "runner";
      expect(commandLineOperator(undefined, noPasswdEntry)).toBe("cli:runner");
      delete process.env.USER;
      expect(commandLineOperator(undefined, noPasswdEntry)).toBe(`cli:uid:${process.getuid?.()}`);
    } finally {
      if (saved === undefined) delete process.env.USER;
      else process.env.USER = saved;
    }
  });

  test("an empty or blank --who is refused, saying what to pass, instead of recording cli:", () => {
    for (const who of ["", "   "]) {
      expect(() => commandLineOperator(who, () => "alice")).toThrow(
        expect.objectContaining({
          code: "CONFIG_INVALID",
          message: expect.stringContaining("--who alice"),
        }),
      );
    }
  });

  test("the machine's user name when it resolves", () => {
    expect(commandLineOperator(undefined, () => "alice")).toBe("cli:alice");
  });
});
