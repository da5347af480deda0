import { generateKeyPairSync } from "node:crypto";
import { createCryptoHandlerRegistry, createDefaultSecretResolver, jsonCodec } from "@capflow/core";
import { describe, expect, it } from "vitest";
import { sm2SortedFieldsHandler } from "../sm2-sorted-fields-handler.ts";

/** An SM2 pair as partners hand them out: PKCS#8 and SPKI PEM. */
function sm2Pair() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "SM2" });
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

describe("a handler of one's own, composed from the crypto building blocks", () => {
  const platform = sm2Pair();
  const bank = sm2Pair();
  const deps = { secrets: createDefaultSecretResolver({ allowInline: true }), channel: "bank" };
  const registry = createCryptoHandlerRegistry().register(
    "sm2-sorted-fields",
    sm2SortedFieldsHandler,
  );
  const own = (signing: string, verifying: string) =>
    registry.create(
      {
        handler: "sm2-sorted-fields",
        options: {
          signing: { ref: `inline:${signing}` },
          verifying: { ref: `inline:${verifying}` },
          userId: "M100000001",
        },
      },
      deps,
    );
  const request = {
    method: "POST" as const,
    path: "/loan/apply",
    headers: {},
    query: {},
    body: { loanNo: "L1", amount: "12.50", name: "张三" },
    codec: jsonCodec,
  };

  it("signs what the bank's side verifies, and refuses an altered field", async () => {
    const client = await own(platform.privatePem, bank.publicPem);
    const server = await own(bank.privatePem, platform.publicPem);
    const wire = await client.sealRequest(request);
    await expect(server.openRequest(wire, jsonCodec)).resolves.toMatchObject({
      body: { loanNo: "L1" },
    });
    const altered = { ...wire, body: wire.body.replace("12.50", "99.50") };
    await expect(server.openRequest(altered, jsonCodec)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("agrees with the configurable handler configured the same way", async () => {
    // The bank's side: role partner opens what the platform's request profile seals.
    const configurable = {
      handler: "configurable",
      options: {
        role: "partner",
        keys: {
          signing: { ref: `inline:${bank.privatePem}` },
          verifying: { ref: `inline:${platform.publicPem}` },
        },
        request: {
          signature: {
            algorithm: "sm2-sm3",
            userId: "M100000001",
            sm2Encoding: "der",
            output: "base64",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
    };
    const bankSide = await registry.create(configurable, deps);
    const wire = await (await own(platform.privatePem, bank.publicPem)).sealRequest(request);
    await expect(bankSide.openRequest(wire, jsonCodec)).resolves.toMatchObject({
      body: { name: "张三" },
    });
  });
});
