import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { mirrorCryptoOptions } from "../../src/crypto/configurable/mirror.ts";
import type {
  ConfigurableCryptoOptions,
  MessageProfile,
} from "../../src/crypto/configurable/options.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { inline, partner, platform } from "../support/crypto/test-keys.ts";

/** A key pair whose algorithm is id-RSASSA-PSS: OpenSSL uses it for PSS signatures only. */
const pssOnly = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
})();

const signed = (algorithm: "rsa-sha256" | "rsa-pss-sha256"): MessageProfile => ({
  signature: {
    algorithm,
    canonical: { kind: "sortedFields" },
    placement: { in: "body", name: "sign" },
  },
});

const wrapped: MessageProfile = {
  encryption: {
    cipher: "aes-256-gcm",
    contentKey: "wrapped",
    wrap: "rsa-oaep-sha256",
    envelope: { data: "data", key: "key" },
  },
};

async function creationError(options: ConfigurableCryptoOptions) {
  return handlerFor(options).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("an RSA-PSS-only key (id-RSASSA-PSS) is refused where it cannot work", () => {
  it("as the signing key of a PKCS#1 v1.5 signature, when the handler is created", async () => {
    const error = await creationError({
      keys: {
        signing: { ref: inline(pssOnly.privatePem) },
        verifying: { ref: inline(partner.publicPem) },
      },
      request: signed("rsa-sha256"),
    });
    expect(error).toMatchObject({
      code: "CRYPTO_CONFIG_INVALID",
      context: { pointer: "/keys/signing" },
    });
    expect(String((error as Error).message)).toMatch(/RSA-PSS key .* rsa-sha256 signing/);
    expect(String((error as Error).message)).not.toContain("PRIVATE KEY");
  });

  it("as the only verifying key of a PKCS#1 v1.5 signature", async () => {
    const error = await creationError({
      keys: {
        signing: { ref: inline(platform.privatePem) },
        verifying: { ref: inline(pssOnly.publicPem) },
      },
      response: signed("rsa-sha256"),
    });
    expect(error).toMatchObject({
      code: "CRYPTO_CONFIG_INVALID",
      context: { pointer: "/keys/verifying/0" },
    });
  });

  it("as a key that wraps or unwraps content keys", async () => {
    for (const keys of [
      {
        encryption: { ref: inline(pssOnly.publicPem) },
        decryption: { ref: inline(platform.privatePem) },
      },
      {
        encryption: { ref: inline(partner.publicPem) },
        decryption: { ref: inline(pssOnly.privatePem) },
      },
    ]) {
      const error = await creationError({ keys, request: wrapped });
      expect(error).toMatchObject({ code: "CRYPTO_CONFIG_INVALID" });
      expect(String((error as Error).message)).toMatch(/rsa-oaep-sha256 key (un)?wrapping/);
    }
  });

  it("and works for rsa-pss-sha256 signatures, both ways", async () => {
    const options: ConfigurableCryptoOptions = {
      keys: {
        signing: { ref: inline(pssOnly.privatePem) },
        verifying: { ref: inline(pssOnly.publicPem) },
      },
      request: signed("rsa-pss-sha256"),
    };
    const client = await handlerFor(options);
    const mock = await handlerFor(
      mirrorCryptoOptions(options, {
        signing: { ref: inline(pssOnly.privatePem) },
        verifying: { ref: inline(pssOnly.publicPem) },
      }),
    );
    const wire = await client.sealRequest({
      method: "POST",
      path: "/apply",
      headers: {},
      query: {},
      body: { loanNo: "L-1" },
      codec: jsonCodec,
    });
    expect((await mock.openRequest(wire, jsonCodec)).body).toMatchObject({ loanNo: "L-1" });
  });
});
