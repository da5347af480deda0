import { describe, expect, it } from "vitest";
import { validateConfigurableOptions } from "../../../src/crypto/configurable/validate-options.ts";
import { documentedProfiles } from "../../support/crypto/documented-profiles.ts";

describe("the partner profiles docs/crypto.md prints", () => {
  it("are the ones the profile tests exercise, each a configurable handler without a problem", () => {
    const profiles = documentedProfiles();
    expect([...profiles.keys()].sort()).toEqual([
      "alipay-cert",
      "alipay-key",
      "md5-xml-aggregator",
      "sm2-sm4-bank",
      "wechatpay-v3",
    ]);
    for (const [name, profile] of profiles) {
      expect({ name, handler: profile.handler }).toEqual({ name, handler: "configurable" });
      expect({ name, problems: validateConfigurableOptions(profile.options) }).toEqual({
        name,
        problems: [],
      });
    }
  });
});
