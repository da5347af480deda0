import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { ConfigurableCryptoOptions } from "../../src/crypto/configurable/options.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor, TestClock } from "../support/crypto/handlers.ts";
import {
  type IssuedByOpenssl,
  type KeyAlgorithm,
  OpensslCa,
} from "../support/crypto/openssl-ca.ts";
import { inline, platform } from "../support/crypto/test-keys.ts";

/**
 * `keys.trust` for signatures that are not CMS: the partner's certificate in keys.verifying must
 * chain to an anchor through the configured intermediates, be valid at the clock, and match the
 * pinned serial and subject, for RSA and SM2 alike; each check has a failing case.
 */
describe.each([
  ["RSA", "rsa" as KeyAlgorithm, "rsa-sha256" as const],
  ["SM2", "sm2" as KeyAlgorithm, "sm2-sm3" as const],
])("keys.trust with %s certificates", (_name, algorithm, signatureAlgorithm) => {
  const clock = new TestClock(Date.UTC(2026, 11, 6, 8, 0, 0));
  let root: string;
  let intermediate: string;
  let partner: IssuedByOpenssl;
  let shortLived: IssuedByOpenssl;
  let foreign: { root: string; leaf: IssuedByOpenssl };
  let serial: string;
  let ours: IssuedByOpenssl;

  beforeAll(() => {
    const ca = new OpensslCa(algorithm, "/C=CN/O=Bank Root CA/CN=Bank Root");
    const sub = ca.issue({ subject: "/C=CN/O=Bank/CN=Bank Issuing CA", ca: true });
    partner = ca.issue({ subject: "/C=CN/O=Bank/CN=api.bank.example" }, sub);
    shortLived = ca.issue(
      { subject: "/C=CN/O=Bank/CN=api.bank.example", endDate: "20270101000000Z" },
      sub,
    );
    const other = new OpensslCa(algorithm, "/C=CN/O=Bank Root CA/CN=Bank Root");
    foreign = {
      root: other.root.certPem,
      leaf: other.issue({ subject: "/C=CN/O=Bank/CN=api.bank.example" }),
    };
    ours = new OpensslCa(algorithm, "/C=CN/O=Capflow/CN=Capflow Root").issue({
      subject: "/C=CN/O=Capflow/CN=platform.example",
    });
    root = ca.root.certPem;
    intermediate = sub.certPem;
    serial = new X509Certificate(partner.certPem).serialNumber;
  });

  const profile = {
    signature: {
      algorithm: signatureAlgorithm,
      canonical: { kind: "rawBody" as const },
      placement: { in: "header" as const, name: "X-Signature" },
    },
  };
  const platformOptions = (
    partnerCert: string,
    trust: Record<string, unknown> | undefined,
  ): ConfigurableCryptoOptions => ({
    keys: {
      signing: { ref: inline(ours.keyPem) },
      verifying: [{ ref: inline(partnerCert) }],
      ...(trust === undefined ? {} : { trust: trust as never }),
    },
    response: profile,
  });
  const partnerOptions = (key: string): ConfigurableCryptoOptions => ({
    role: "partner",
    keys: { signing: { ref: inline(key) }, verifying: { ref: inline(ours.certPem) } },
    response: profile,
  });
  const trustAll = () => ({
    anchors: [{ ref: inline(root) }],
    intermediates: [{ ref: inline(intermediate) }],
  });

  const answerFrom = async (signer: IssuedByOpenssl) => {
    const bank = await handlerFor(partnerOptions(signer.keyPem), { clock });
    const request = { method: "POST" as const, path: "/x", headers: {}, query: {}, body: "{}" };
    const opened = await bank.openRequest(request, jsonCodec);
    const answer = await bank.sealResponse(
      { status: 200, headers: {}, body: { code: "0000" }, codec: jsonCodec },
      opened,
    );
    return { request, answer };
  };
  const open = async (
    signer: IssuedByOpenssl,
    trust: Record<string, unknown> | undefined,
    cert = signer.certPem,
  ) => {
    const channel = await handlerFor(platformOptions(cert, trust), { clock });
    const { request, answer } = await answerFrom(signer);
    return channel.openResponse(answer, request, jsonCodec);
  };

  it("accepts the partner's certificate through its intermediate, pinned", async () => {
    await expect(
      open(partner, { ...trustAll(), serial, subject: "CN=api.bank.example, O=Bank" }),
    ).resolves.toMatchObject({ body: { code: "0000" } });
    // And the same answer without trust configured (nothing checked but the signature).
    await expect(open(partner, undefined)).resolves.toMatchObject({ body: { code: "0000" } });
  });

  it("refuses a certificate from another CA, and one whose intermediate is missing (chain)", async () => {
    await expect(open(foreign.leaf, trustAll())).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringMatching(/chain/),
    });
    await expect(open(foreign.leaf, undefined)).resolves.toBeDefined();
    await expect(open(partner, { anchors: [{ ref: inline(root) }] })).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringMatching(/chain/),
    });
  });

  it("refuses a certificate outside its validity (dates)", async () => {
    const channel = await handlerFor(platformOptions(shortLived.certPem, trustAll()), { clock });
    const { request, answer } = await answerFrom(shortLived);
    await expect(channel.openResponse(answer, request, jsonCodec)).resolves.toBeDefined();
    const later = clock.ms;
    clock.ms = Date.UTC(2027, 5, 1);
    try {
      // The same handler, which checked the path before: the dates are checked again.
      await expect(channel.openResponse(answer, request, jsonCodec)).rejects.toMatchObject({
        code: "CRYPTO_VERIFY_FAILED",
        message: expect.stringMatching(/valid|expired/i),
      });
      await expect(open(shortLived, trustAll())).rejects.toMatchObject({
        code: "CRYPTO_VERIFY_FAILED",
      });
      await expect(open(partner, trustAll())).resolves.toBeDefined();
    } finally {
      clock.ms = later;
    }
  });

  it("refuses a wrong pinned serial or subject", async () => {
    await expect(open(partner, { ...trustAll(), serial: "0BADC0DE" })).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringContaining("serial"),
    });
    await expect(
      open(partner, { ...trustAll(), subject: "CN=other.bank.example" }),
    ).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringContaining("subject"),
    });
  });
});

describe("keys.trust configuration", () => {
  it("needs certificates as verifying keys", async () => {
    const ca = new OpensslCa("rsa", "/C=CN/O=Bank Root CA/CN=Bank Root");
    await expect(
      handlerFor({
        keys: {
          signing: { ref: inline(platform.privatePem) },
          verifying: [{ ref: inline(platform.publicPem) }],
          trust: { anchors: [{ ref: inline(ca.root.certPem) }] },
        },
        response: {
          signature: {
            algorithm: "rsa-sha256",
            canonical: { kind: "rawBody" },
            placement: { in: "header", name: "X-Signature" },
          },
        },
      }),
    ).rejects.toMatchObject({
      code: "CRYPTO_CONFIG_INVALID",
      message: expect.stringContaining("certificate"),
    });
  });

  it("is validated", () => {
    const registry = createCryptoHandlerRegistry();
    const problems = registry.validateOptions("configurable", {
      keys: { trust: { anchors: [], serial: "xyz", other: 1 } },
    });
    expect(problems.map((p) => p.pointer).sort()).toEqual([
      "/keys/trust",
      "/keys/trust/anchors",
      "/keys/trust/other",
      "/keys/trust/serial",
    ]);
  });
});
