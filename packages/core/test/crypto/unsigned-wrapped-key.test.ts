import { describe, expect, it } from "vitest";
import type { EncryptionPart } from "../../src/crypto/configurable/options.ts";
import { validateConfigurableOptions } from "../../src/crypto/configurable/validate-options.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { inline, partner, platform } from "../support/crypto/test-keys.ts";

const encryption: EncryptionPart = {
  cipher: "aes-256-gcm",
  contentKey: "wrapped",
  wrap: "rsa-oaep-sha256",
  envelope: { data: "data", key: "key" },
};
const keys = {
  encryption: { ref: inline(partner.publicPem) },
  decryption: { ref: inline(platform.privatePem) },
};

describe("a message the platform receives, encrypted with a wrapped key and not signed", () => {
  it.each(["callback", "response"] as const)("a %s profile is refused", (profile) => {
    const problems = validateConfigurableOptions({ keys, [profile]: { encryption } });
    expect(problems).toEqual([
      {
        pointer: `/${profile}/encryption/contentKey`,
        message: expect.stringMatching(/would open for anyone: .* Add a signature/),
      },
    ]);
  });

  it("such a message is sealed with public knowledge only: the handler is not created", async () => {
    // The wrap key is the platform's public key, handed to the funder: anyone can seal with it.
    const forger = await handlerFor({
      keys: {
        encryption: { ref: inline(platform.publicPem) },
        decryption: { ref: inline(partner.privatePem) },
      },
      request: { encryption },
    });
    const forged = await forger.sealRequest({
      method: "POST",
      path: "/callbacks/bank/loan",
      headers: {},
      query: {},
      body: { orderNo: "L-1", status: "SUCCESS", amount: "999999.00" },
      codec: jsonCodec,
    });
    // The same profile opening it, where the funder receives (requests are its concern):
    const opener = await handlerFor({ role: "partner", keys, request: { encryption } });
    expect((await opener.openRequest(forged, jsonCodec)).body).toMatchObject({
      amount: "999999.00",
    });
    // As a callback the platform opens, it is refused when the handler is made.
    await expect(handlerFor({ keys, callback: { encryption } })).rejects.toMatchObject({
      code: "CRYPTO_CONFIG_INVALID",
      message: expect.stringContaining("/callback/encryption/contentKey"),
    });
  });

  it("requests and acknowledgements (the funder receives them) and signed callbacks stay valid", () => {
    expect(
      validateConfigurableOptions({ keys, request: { encryption }, callbackAck: { encryption } }),
    ).toEqual([]);
    expect(
      validateConfigurableOptions({
        keys: {
          ...keys,
          signing: { ref: inline(platform.privatePem) },
          verifying: { ref: inline(partner.publicPem) },
        },
        callback: {
          encryption,
          signature: {
            algorithm: "rsa-sha256",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      }),
    ).toEqual([]);
  });

  it("a shared content key is the funder's secret: not refused", () => {
    expect(
      validateConfigurableOptions({
        keys: { contentKey: { ref: "env:K" } },
        callback: {
          encryption: { cipher: "aes-256-gcm", contentKey: "shared", envelope: { data: "data" } },
        },
      }),
    ).toEqual([]);
  });
});
