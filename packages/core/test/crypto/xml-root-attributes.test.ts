import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { mirrorCryptoDefinition } from "../../src/crypto/configurable/mirror.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { CryptoDefinition } from "../../src/definition/types.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";

const definitions = fileURLToPath(
  new URL("../../../../examples/meadow/definitions/", import.meta.url),
);

describe("field signatures over XML with root attributes", () => {
  test("a body signed before encoding verifies after decoding: root attributes are not fields", async () => {
    const crypto: CryptoDefinition = {
      handler: "configurable",
      options: {
        keys: { secret: { ref: "inline:192006250b4c09247ec02edce69f6a2d", format: "utf8" } },
        request: {
          signature: {
            algorithm: "md5",
            appendKey: "&key=",
            output: "hex-upper",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
    };
    const registry = createCryptoHandlerRegistry();
    const deps = {
      secrets: createDefaultSecretResolver({ allowInline: true }),
      baseDir: definitions,
    };
    const platform = await registry.create(crypto, deps);
    const funder = await registry.create(mirrorCryptoDefinition(crypto, {}), deps);
    const xml = codecFor("xml", { xml: { root: "request", attributes: { version: "2.1" } } });

    const wire = await platform.sealRequest({
      method: "POST",
      path: "/gateway",
      headers: {},
      query: {},
      body: { loan_no: "L-1", amount: "100000" },
      codec: xml,
    });
    expect(wire.body).toContain('<request version="2.1">');
    const opened = await funder.openRequest(wire, codecFor("xml"));
    expect(opened.body).toMatchObject({ "@version": "2.1", loan_no: "L-1", amount: "100000" });
  });
});
