import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { ConfigurableCryptoOptions } from "../../../src/crypto/configurable/options.ts";
import { createCryptoHandlerRegistry } from "../../../src/crypto/handler-registry.ts";
import { codecFor } from "../../../src/message/codecs/codec-for.ts";
import { handlerFor, TestClock } from "../../support/crypto/handlers.ts";
import { OpensslCa } from "../../support/crypto/openssl-ca.ts";
import { inline } from "../../support/crypto/test-keys.ts";

/**
 * A bank that signs GBK XML with detached GM/T 0010 SignedData (SM2 with SM3) from its SM2 CA,
 * configured by JSON only; and banks that name their signer by issuer and serial only, whose
 * certificate the channel has in `keys.verifying`.
 */
describe("cms-sm2-sm3 in the configurable handler", () => {
  const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });
  const clock = new TestClock(Date.UTC(2026, 11, 6, 8, 0, 0));
  let ours: { key: string; cert: string; ca: string };
  let bank: { key: string; cert: string; ca: string; serial: string };
  let look: { key: string; cert: string };
  let rsaBank: { key: string; cert: string };

  beforeAll(() => {
    const ourCa = new OpensslCa("sm2", "/C=CN/O=Capflow Demo SM2 CA/CN=Capflow Demo SM2 Root");
    const ourCert = ourCa.issue({ subject: "/C=CN/O=Capflow Demo/CN=platform.example" });
    ours = { key: ourCert.keyPem, cert: ourCert.certPem, ca: ourCa.root.certPem };
    const bankCa = new OpensslCa("sm2", "/C=CN/O=Jade Bank SM2 CA/CN=Jade Bank Root");
    const bankCert = bankCa.issue({ subject: "/C=CN/O=Jade Bank/CN=h2h.jadebank.example" });
    const serial = new X509Certificate(bankCert.certPem).serialNumber;
    bank = { key: bankCert.keyPem, cert: bankCert.certPem, ca: bankCa.root.certPem, serial };
    const lookAlike = bankCa.issue({ subject: "/C=CN/O=Jade Bank/CN=h2h.jadebank.example" });
    look = { key: lookAlike.keyPem, cert: lookAlike.certPem };
    const rsaCa = new OpensslCa("rsa", "/C=CN/O=Lan Bank CA/CN=Lan Bank Root");
    const rsaCert = rsaCa.issue({ subject: "/C=CN/O=Lan Bank/CN=h2h.lanbank.example" });
    rsaBank = { key: rsaCert.keyPem, cert: rsaCert.certPem };
  });

  const profile = (
    algorithm: "cms-sm2-sm3" | "cms-rsa-sha256",
    cms: Record<string, unknown> = {},
  ) => ({
    signature: {
      algorithm,
      canonical: { kind: "xmlElement" as const, element: "body" },
      placement: { in: "header" as const, name: "X-Signature" },
      cms,
    },
  });
  const platformOptions = (
    verifying = bank.ca,
    cms: Record<string, unknown> = { signerSerial: bank.serial },
    algorithm: "cms-sm2-sm3" | "cms-rsa-sha256" = "cms-sm2-sm3",
    signing: { key: string; cert: string } = ours,
  ): ConfigurableCryptoOptions => ({
    keys: {
      signing: { ref: inline(signing.key), certificate: inline(signing.cert) },
      verifying: [{ ref: inline(verifying) }],
    },
    request: profile(algorithm),
    response: profile(algorithm, cms),
  });
  const bankOptions = (
    key = bank.key,
    cert = bank.cert,
    cms: Record<string, unknown> = {},
    algorithm: "cms-sm2-sm3" | "cms-rsa-sha256" = "cms-sm2-sm3",
    verifying = ours.ca,
  ): ConfigurableCryptoOptions => ({
    role: "partner",
    keys: {
      signing: { ref: inline(key), certificate: inline(cert) },
      verifying: [{ ref: inline(verifying) }],
    },
    request: profile(algorithm),
    response: profile(algorithm, cms),
  });
  const body = { body: { orderNo: "L1", amount: "100.00", name: "张三" } };
  const request = {
    method: "POST" as const,
    path: "/h2h",
    headers: {},
    query: {},
    body,
    codec: xml,
    charset: "gbk" as const,
  };
  const answer = (code: string) => ({
    status: 200,
    headers: {},
    body: { body: { code, msg: "成功" } },
    codec: xml,
    charset: "gbk" as const,
  });

  it("the bank verifies what capflow signs, and capflow verifies the bank's answer", async () => {
    const platform = await handlerFor(platformOptions(), { clock });
    const partner = await handlerFor(bankOptions(), { clock });
    const sealed = await platform.sealRequest(request);
    expect(Buffer.from(sealed.headers["x-signature"]!, "base64").toString("hex")).toContain(
      "2a811ccf550601040202", // 1.2.156.10197.6.1.4.2.2: GM/T 0010 signedData by default
    );
    const opened = await partner.openRequest(sealed, xml);
    expect(opened.body).toMatchObject(body);
    const reply = await partner.sealResponse(answer("0000"), opened);
    await expect(platform.openResponse(reply, sealed, xml)).resolves.toMatchObject({
      body: { body: { code: "0000", msg: "成功" } },
    });
    const tampered = { ...reply, body: reply.body.replace("0000", "0001") };
    await expect(platform.openResponse(tampered, sealed, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("refuses another certificate of the same CA (pinned serial)", async () => {
    const platform = await handlerFor(platformOptions(), { clock });
    const sealed = await platform.sealRequest(request);
    const impostor = await handlerFor(bankOptions(look.key, look.cert), { clock });
    const forged = await impostor.sealResponse(
      answer("0000"),
      await impostor.openRequest(sealed, xml),
    );
    await expect(platform.openResponse(forged, sealed, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
    const unpinned = await handlerFor(platformOptions(bank.ca, {}), { clock });
    await expect(unpinned.openResponse(forged, sealed, xml)).resolves.toBeDefined();
  });

  it.each([
    ["SM2", "cms-sm2-sm3" as const],
    ["RSA", "cms-rsa-sha256" as const],
  ])(
    "%s: a signer named only by issuer and serial is found among keys.verifying",
    async (_n, algorithm) => {
      const sm2 = algorithm === "cms-sm2-sm3";
      const theirs = sm2 ? bank : rsaBank;
      // The channel trusts the bank's own certificate (no CA), and the bank leaves it out.
      const platform = await handlerFor(
        platformOptions(theirs.cert, {}, algorithm, sm2 ? ours : rsaBank),
        { clock },
      );
      const sealed = await platform.sealRequest(request);
      const partner = await handlerFor(
        bankOptions(
          theirs.key,
          theirs.cert,
          { includeCertificate: false },
          algorithm,
          sm2 ? ours.cert : rsaBank.cert,
        ),
        { clock },
      );
      const reply = await partner.sealResponse(
        answer("0000"),
        await partner.openRequest(sealed, xml),
      );
      await expect(platform.openResponse(reply, sealed, xml)).resolves.toMatchObject({
        body: { body: { code: "0000" } },
      });
    },
  );

  it("trusting the CA only, a signer left out of the message cannot be checked", async () => {
    const platform = await handlerFor(platformOptions(bank.ca, {}), { clock });
    const sealed = await platform.sealRequest(request);
    const partner = await handlerFor(
      bankOptions(bank.key, bank.cert, { includeCertificate: false }),
      {
        clock,
      },
    );
    const reply = await partner.sealResponse(
      answer("0000"),
      await partner.openRequest(sealed, xml),
    );
    await expect(platform.openResponse(reply, sealed, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });
});

describe("cms options are validated", () => {
  const registry = createCryptoHandlerRegistry();
  const options = (algorithm: string, cms: Record<string, unknown>) => ({
    keys: { signing: { ref: "env:KEY" }, verifying: [{ ref: "env:CA" }] },
    request: {
      signature: {
        algorithm,
        canonical: { kind: "rawBody" },
        placement: { in: "header", name: "X-Signature" },
        cms,
      },
    },
  });

  it("oids is gm or pkcs7, for cms-sm2-sm3 only", () => {
    expect(
      registry.validateOptions("configurable", options("cms-sm2-sm3", { oids: "gm" })),
    ).toEqual([]);
    expect(
      registry.validateOptions("configurable", options("cms-sm2-sm3", { oids: "x509" })),
    ).toEqual([expect.objectContaining({ pointer: "/request/signature/cms/oids" })]);
    expect(
      registry.validateOptions("configurable", options("cms-rsa-sha256", { oids: "gm" })),
    ).toEqual([
      expect.objectContaining({
        pointer: "/request/signature/cms/oids",
        message: expect.stringContaining("cms-sm2-sm3 only"),
      }),
    ]);
    expect(registry.validateOptions("configurable", options("sm2-sm3", { oids: "gm" }))).toEqual([
      expect.objectContaining({ pointer: "/request/signature/cms" }),
    ]);
  });
});
