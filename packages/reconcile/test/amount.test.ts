import { describe, expect, it } from "vitest";
import { formatMinor, parseAmount } from "../src/index.ts";

describe("amounts", () => {
  it("reads yuan and fen exactly, and refuses a point with no decimals after it", () => {
    expect(parseAmount("1,500.5", "yuan")).toBe(150050n);
    expect(parseAmount("-0.01", "yuan")).toBe(-1n);
    expect(parseAmount("123", "yuan")).toBe(12300n);
    expect(parseAmount("150000", "fen")).toBe(150000n);
    for (const text of ["123.", "1.001", ".5", "", "1e3", "12 3.4.5"]) {
      expect(() => parseAmount(text, "yuan"), text).toThrow(
        expect.objectContaining({ code: "STATEMENT_UNREADABLE" }),
      );
    }
    expect(() => parseAmount("1.00", "fen")).toThrow(/whole fen/);
  });

  it("writes fen as yuan, keeping digits finer than a fen instead of failing", () => {
    expect(formatMinor(150000n)).toBe("1500.00");
    expect(formatMinor("-5")).toBe("-0.05");
    expect(formatMinor("10000.5")).toBe("100.005");
    expect(formatMinor("-3.25")).toBe("-0.0325");
    expect(formatMinor("7.0")).toBe("0.07");
    expect(formatMinor("-0.0")).toBe("0.00");
    expect(formatMinor("n/a")).toBe("n/a");
  });
});
