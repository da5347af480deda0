import { describe, expect, it } from "vitest";
import { en } from "../app/i18n/en.ts";
import { preferredLocale, translator } from "../app/i18n/translate.ts";
import { zhCN } from "../app/i18n/zh-CN.ts";

describe("the console's languages", () => {
  it("have the same keys, none left empty or untranslated", () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
    for (const [key, text] of Object.entries(zhCN)) {
      expect(text.trim(), key).not.toBe("");
      const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(placeholders(text), key).toEqual(placeholders(en[key as keyof typeof en]));
    }
  });

  it("fill in values by name", () => {
    expect(translator("en")("nav.signedInAs", { who: "ops-li", role: "viewer" })).toBe(
      "Signed in as ops-li (viewer)",
    );
    expect(translator("zh-CN")("overview.attention.stuck", { minutes: 30 })).toBe(
      "超过时限卡单（30 分钟）",
    );
  });

  it("start in the browser's language when it is one of theirs", () => {
    expect(preferredLocale(["zh-TW", "en"])).toBe("zh-CN");
    expect(preferredLocale(["en-GB"])).toBe("en");
    expect(preferredLocale(["fr-FR"])).toBe("en");
  });
});
