import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { ConfigurableCryptoOptions } from "../../../src/crypto/configurable/options.ts";
import { codecFor } from "../../../src/message/codecs/codec-for.ts";
import { handlerFor, TestClock } from "../../support/crypto/handlers.ts";
import { OpensslCa } from "../../support/crypto/openssl-ca.ts";
import { inline } from "../../support/crypto/test-keys.ts";

/**
 * A bank that signs GBK XML with detached CMS signatures from its CA's certificates, configured
 * by JSON only: capflow signs requests with its certificate, the bank verifies them against
 * capflow's CA; the bank's answers are verified against the bank's CA, pinned to its serial.
 */
describe("cms-rsa-sha256 in the configurable handler", () => {
  const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });
  const clock = new TestClock(Date.UTC(2026, 11, 6, 8, 0, 0));
  let ours: { key: string; cert: string; ca: string };
  let bank: { key: string; cert: string; ca: string; serial: string };
  let look: { key: string; cert: string };

  beforeAll(() => {
    const ourCa = new OpensslCa("rsa", "/C=CN/O=Capflow Demo CA/CN=Capflow Demo Root");
    const ourCert = ourCa.issue({ subject: "/C=CN/O=Capflow Demo/CN=platform.example" });
    ours = { key: ourCert.keyPem, cert: ourCert.certPem, ca: ourCa.root.certPem };
    const bankCa = new OpensslCa("rsa", "/C=CN/O=Bank CA/CN=Bank Root");
    const bankCert = bankCa.issue({ subject: "/C=CN/O=Bank/CN=h2h.bank.example" });
    const serial = new X509Certificate(bankCert.certPem).serialNumber;
    bank = { key: bankCert.keyPem, cert: bankCert.certPem, ca: bankCa.root.certPem, serial };
    const lookAlike = bankCa.issue({ subject: "/C=CN/O=Bank/CN=h2h.bank.example" });
    look = { key: lookAlike.keyPem, cert: lookAlike.certPem };
  });

  const profile = (cms: Record<string, unknown> = {}) => ({
    signature: {
      algorithm: "cms-rsa-sha256" as const,
      canonical: { kind: "xmlElement" as const, element: "body" },
      placement: { in: "header" as const, name: "X-Signature" },
      cms,
    },
  });
  const platformOptions = (): ConfigurableCryptoOptions => ({
    keys: {
      signing: { ref: inline(ours.key), certificate: inline(ours.cert) },
      verifying: [{ ref: inline(bank.ca) }],
    },
    request: profile(),
    response: profile({ signerSerial: bank.serial }),
  });
  const bankOptions = (key = bank.key, cert = bank.cert): ConfigurableCryptoOptions => ({
    role: "partner",
    keys: {
      signing: { ref: inline(key), certificate: inline(cert) },
      verifying: [{ ref: inline(ours.ca) }],
    },
    request: profile(),
    response: profile(),
  });
  const body = { body: { orderNo: "L1", amount: "100.00", name: "张三" } };

  it("the bank verifies what capflow signs, and capflow verifies the bank's answer", async () => {
    const platform = await handlerFor(platformOptions(), { clock });
    const partner = await handlerFor(bankOptions(), { clock });
    const request = await platform.sealRequest({
      method: "POST",
      path: "/h2h",
      headers: {},
      query: {},
      body,
      codec: xml,
      charset: "gbk",
    });
    expect(request.headers["x-signature"]).toMatch(/^MII/);
    const opened = await partner.openRequest(request, xml);
    expect(opened.body).toMatchObject(body);
    const answer = await partner.sealResponse(
      {
        status: 200,
        headers: {},
        body: { body: { code: "0000", msg: "成功" } },
        codec: xml,
        charset: "gbk",
      },
      opened,
    );
    await expect(platform.openResponse(answer, request, xml)).resolves.toMatchObject({
      body: { body: { code: "0000", msg: "成功" } },
    });
  });

  it("refuses an answer from another certificate of the same CA (pinned serial), and tampering", async () => {
    const platform = await handlerFor(platformOptions(), { clock });
    const request = await platform.sealRequest({
      method: "POST",
      path: "/h2h",
      headers: {},
      query: {},
      body,
      codec: xml,
      charset: "gbk",
    });
    const impostor = await handlerFor(bankOptions(look.key, look.cert), { clock });
    const opened = await impostor.openRequest(request, xml);
    const forged = await impostor.sealResponse(
      { status: 200, headers: {}, body: { body: { code: "0000" } }, codec: xml, charset: "gbk" },
      opened,
    );
    await expect(platform.openResponse(forged, request, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
    const partner = await handlerFor(bankOptions(), { clock });
    const genuine = await partner.sealResponse(
      { status: 200, headers: {}, body: { body: { code: "0000" } }, codec: xml, charset: "gbk" },
      await partner.openRequest(request, xml),
    );
    const tampered = { ...genuine, body: genuine.body.replace("0000", "0001") };
    await expect(platform.openResponse(tampered, request, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("a signing key without its certificate is a configuration error", async () => {
    const options = platformOptions();
    options.keys = { ...options.keys, signing: { ref: inline(ours.key) } };
    const platform = await handlerFor(options, { clock });
    await expect(
      platform.sealRequest({
        method: "POST",
        path: "/h2h",
        headers: {},
        query: {},
        body,
        codec: xml,
        charset: "gbk",
      }),
    ).rejects.toThrow(/certificate/);
  });
});
