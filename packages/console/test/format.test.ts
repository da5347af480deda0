import { describe, expect, it } from "vitest";
import { formatAge, formatAmount, formatDateTime, formatRate } from "../app/format.ts";
import { maskText } from "../app/mask.ts";

describe("what the console shows", () => {
  it("dates in the channel's time zone, whatever the browser's", () => {
    const midnightUtc = Date.UTC(2026, 11, 6, 16, 30, 0); // 00:30 the next day in Shanghai
    expect(formatDateTime(midnightUtc, "Asia/Shanghai", "en")).toContain("12/07/2026");
    expect(formatDateTime(midnightUtc, "Asia/Shanghai", "en")).toContain("00:30:00");
    expect(formatDateTime(midnightUtc, "Asia/Shanghai", "zh-CN")).toContain("2026/12/07");
    expect(formatDateTime(midnightUtc, "UTC", "en")).toContain("12/06/2026");
    expect(formatDateTime(null, "UTC", "en")).toBe("—");
  });

  it("amounts as decimals, never through floating point", () => {
    expect(formatAmount("1250000.5")).toBe("1,250,000.50");
    expect(formatAmount({ cents: 125 })).toBe("1.25");
    expect(formatAmount({ cents: "-5" })).toBe("-0.05");
    expect(formatAmount({ cents: "90071992547409931" })).toBe("900,719,925,474,099.31");
    expect(formatAmount("0.1234")).toBe("0.1234");
    expect(formatAmount("n/a")).toBe("n/a");
  });

  it("ages in two units and rates as percentages", () => {
    expect(formatAge(3 * 86_400_000 + 4 * 3_600_000 + 5_000, "en")).toBe("3 d 4 h");
    expect(formatAge(12 * 60_000 + 5_000, "zh-CN")).toBe("12 分 5 秒");
    expect(formatAge(800, "en")).toBe("800 ms");
    expect(formatRate(0.0345)).toBe("3.5%");
    expect(formatRate(null)).toBe("—");
  });

  it("masks what still looks like an ID card, phone or bank card, and nothing else", () => {
    expect(maskText("idNo 11010119900307123X phone 13812345678")).toBe(
      "idNo 110***********123X phone 138****5678",
    );
    expect(maskText('"card":"6222021234567890123"')).toBe('"card":"622************0123"');
    // Epoch milliseconds, serial numbers and business keys stay readable.
    expect(maskText("1765000000000 202612061234567890123456 L20261206000123")).toBe(
      "1765000000000 202612061234567890123456 L20261206000123",
    );
  });
});
