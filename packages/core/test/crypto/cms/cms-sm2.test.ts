import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { beforeAll, describe, expect, it } from "vitest";
import { cmsSign, cmsVerify } from "../../../src/crypto/cms/cms-signed-data.ts";
import { Sm2CryptoEngine } from "../../../src/crypto/cms/sm2-crypto-engine.ts";
import type { Sm2PrivateKey } from "../../../src/crypto/keys/loaded-keys.ts";
import { readSm2PrivateKey } from "../../../src/crypto/sm2.ts";
import { OpensslCa, openssl } from "../../support/crypto/openssl-ca.ts";

/**
 * CMS SignedData with SM2 and SM3 (GM/T 0010), on SM2 certificates made by `openssl ca` (SM3,
 * GM/T 0009's default user ID): a bank's root issues an intermediate, which issues the bank's
 * signing certificate; another root with the same name issues a look-alike.
 *
 * OpenSSL 3.0 cannot sign CMS with SM2 (`openssl cms -sign` fails on SM2 keys) and its CMS
 * verification neither passes a user ID nor checks SM2 certificate chains, so the differential
 * test against it covers what it can: it verifies capflow's SM2 SignerInfo (signed attributes as
 * a DER SET, SM3 digest, PKCS#7 content types) made with the empty user ID it uses. The
 * certificate signatures of GmSSL's public test CA serve as a third party's reference vectors.
 */
describe("CMS SignedData with SM2/SM3", () => {
  const at = new Date(Date.UTC(2026, 11, 6, 8, 0, 0));
  const data = Buffer.from(
    '<?xml version="1.0" encoding="GBK"?><body><amount>100.00</amount></body>',
  );
  let ca: OpensslCa;
  let root: X509Certificate;
  let intermediate: X509Certificate;
  let signer: { key: Sm2PrivateKey; cert: X509Certificate };
  let lookAlike: { key: Sm2PrivateKey; cert: X509Certificate; root: X509Certificate };
  let expired: { key: Sm2PrivateKey; cert: X509Certificate };

  beforeAll(() => {
    ca = new OpensslCa("sm2", "/C=CN/O=Jade Bank Root CA/CN=Jade Bank Root");
    const sub = ca.issue({ subject: "/C=CN/O=Jade Bank/CN=Jade Bank Issuing CA", ca: true });
    const leaf = ca.issue({ subject: "/C=CN/O=Jade Bank/CN=h2h.jadebank.example" }, sub);
    const old = ca.issue({
      subject: "/C=CN/O=Jade Bank/CN=h2h.jadebank.example",
      startDate: "20200101000000Z",
      endDate: "20250101000000Z",
    });
    const other = new OpensslCa("sm2", "/C=CN/O=Jade Bank Root CA/CN=Jade Bank Root");
    const fake = other.issue({ subject: "/C=CN/O=Jade Bank/CN=h2h.jadebank.example" });
    root = new X509Certificate(ca.root.certPem);
    intermediate = new X509Certificate(sub.certPem);
    signer = { key: readSm2PrivateKey(leaf.keyPem), cert: new X509Certificate(leaf.certPem) };
    expired = { key: readSm2PrivateKey(old.keyPem), cert: new X509Certificate(old.certPem) };
    lookAlike = {
      key: readSm2PrivateKey(fake.keyPem),
      cert: new X509Certificate(fake.certPem),
      root: new X509Certificate(other.root.certPem),
    };
    writeFileSync(join(ca.dir, "data.bin"), data);
  });

  const tamper = (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    copy.writeUInt8(copy.readUInt8(copy.length - 10) ^ 1, copy.length - 10);
    return copy;
  };

  it.each([
    ["GM/T 0010 content types, detached, signed attributes", { oids: "gm" as const }],
    ["PKCS#7 content types, detached, signed attributes", { oids: "pkcs7" as const }],
    ["attached", { attached: true }],
    ["without signed attributes", { signedAttributes: false }],
  ])("signs and verifies through an intermediate: %s", async (_name, options) => {
    const der = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      chain: [intermediate],
      ...options,
    });
    const base = { trustAnchors: [root], at };
    const result = await cmsVerify(der, data, base);
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.signer.serialNumber).toBe(signer.cert.serialNumber);
    await expect(cmsVerify(der, tamper(data), base)).resolves.toMatchObject({ ok: false });
    await expect(cmsVerify(tamper(der), data, base)).resolves.toMatchObject({ ok: false });
  });

  it("writes GM/T 0010 content types and SM2-1 by default, PKCS#7's on request", async () => {
    const gm = await cmsSign(data, signer.key, signer.cert, { now: at });
    const printed = (der: Buffer, name: string) => {
      writeFileSync(join(ca.dir, name), der);
      return openssl(["asn1parse", "-inform", "DER", "-in", name], ca.dir).toString();
    };
    const gmText = printed(gm, "gm.der");
    expect(gmText).toContain("1.2.156.10197.6.1.4.2.2");
    expect(gmText).toContain("1.2.156.10197.6.1.4.2.1");
    expect(gmText).toContain("1.2.156.10197.1.301.1");
    const pkcs7 = await cmsSign(data, signer.key, signer.cert, { now: at, oids: "pkcs7" });
    const pkcs7Text = printed(pkcs7, "pkcs7.der");
    expect(pkcs7Text).toContain(":pkcs7-signedData");
    expect(pkcs7Text).not.toContain("1.2.156.10197.6.1.4.2");
    expect(pkcs7Text).toContain("SM2-with-SM3");
  });

  it("openssl cms verifies capflow's SM2 signature over signed attributes", async () => {
    // OpenSSL 3.0's CMS computes Z with an empty user ID and cannot be told another; without
    // signed attributes it signs the bare SM3 digest (no Z at all), which no GM/T 0010 signer does.
    const der = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      oids: "pkcs7",
      userId: "",
    });
    writeFileSync(join(ca.dir, "ours.der"), der);
    const args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", "ours.der", "-noverify"];
    expect(openssl([...args, "-content", "data.bin"], ca.dir).equals(data)).toBe(true);
    writeFileSync(join(ca.dir, "tampered.bin"), tamper(data));
    expect(() => openssl([...args, "-content", "tampered.bin"], ca.dir)).toThrow(/failure/);
    await expect(
      cmsVerify(der, data, { trustAnchors: [root], intermediates: [intermediate], at, userId: "" }),
    ).resolves.toMatchObject({ ok: true });
    // Verified with the default user ID, the same signature is refused.
    await expect(
      cmsVerify(der, data, { trustAnchors: [root], intermediates: [intermediate], at }),
    ).resolves.toMatchObject({ ok: false });
  });

  it("refuses another CA, a missing intermediate and a signer outside its validity", async () => {
    const fake = await cmsSign(data, lookAlike.key, lookAlike.cert, { now: at });
    await expect(cmsVerify(fake, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: false,
      reason: expect.stringMatching(/chain|trust|certificate/i),
    });
    await expect(
      cmsVerify(fake, data, { trustAnchors: [lookAlike.root], at }),
    ).resolves.toMatchObject({ ok: true });
    const withoutChain = await cmsSign(data, signer.key, signer.cert, { now: at });
    await expect(
      cmsVerify(withoutChain, data, { trustAnchors: [root], at }),
    ).resolves.toMatchObject({ ok: false });
    await expect(
      cmsVerify(withoutChain, data, { trustAnchors: [root], intermediates: [intermediate], at }),
    ).resolves.toMatchObject({ ok: true });
    const old = await cmsSign(data, expired.key, expired.cert, { now: at });
    await expect(cmsVerify(old, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: false,
    });
    await expect(
      cmsVerify(old, data, { trustAnchors: [root], at: new Date(Date.UTC(2024, 5, 1)) }),
    ).resolves.toMatchObject({ ok: true });
  });

  it("finds a signer named only by issuer and serial among the configured certificates", async () => {
    const referenced = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      includeCertificate: false,
      chain: [intermediate],
    });
    await expect(cmsVerify(referenced, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: false,
    });
    await expect(
      cmsVerify(referenced, data, { trustAnchors: [root], intermediates: [signer.cert], at }),
    ).resolves.toMatchObject({ ok: true });
    // The signer's own certificate as the only trust anchor (a bank that hands out its certificate).
    await expect(
      cmsVerify(referenced, data, {
        trustAnchors: [signer.cert],
        intermediates: [signer.cert],
        at,
      }),
    ).resolves.toMatchObject({ ok: true });
  });

  it("finds a signer named by subject key identifier among the configured certificates", async () => {
    // The SignerInfo's sid is not signed: name the signer by key identifier (SHA-1 of its key,
    // RFC 5280's method, as OpenSSL's -keyid does) in place of issuer and serial.
    const referenced = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      includeCertificate: false,
    });
    const info = pkijs.ContentInfo.fromBER(referenced);
    const signedData = new pkijs.SignedData({ schema: info.content });
    const spki = pkijs.Certificate.fromBER(signer.cert.raw).subjectPublicKeyInfo;
    const keyId = createHash("sha1").update(spki.subjectPublicKey.valueBlock.valueHexView).digest();
    const signerInfo = signedData.signerInfos[0]!;
    signerInfo.version = 3;
    signerInfo.sid = new asn1js.Primitive({
      idBlock: { tagClass: 3, tagNumber: 0 },
      valueHex: keyId.buffer.slice(keyId.byteOffset, keyId.byteOffset + keyId.byteLength),
    });
    const byKeyId = Buffer.from(
      new pkijs.ContentInfo({ contentType: info.contentType, content: signedData.toSchema(true) })
        .toSchema()
        .toBER(false),
    );
    const base = { trustAnchors: [root], at };
    await expect(
      cmsVerify(byKeyId, data, { ...base, intermediates: [intermediate] }),
    ).resolves.toMatchObject({ ok: false });
    await expect(
      cmsVerify(byKeyId, data, { ...base, intermediates: [intermediate, signer.cert] }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      cmsVerify(byKeyId, tamper(data), { ...base, intermediates: [intermediate, signer.cert] }),
    ).resolves.toMatchObject({ ok: false });
  });

  it("checks a pinned serial and subject", async () => {
    const der = await cmsSign(data, signer.key, signer.cert, { now: at, chain: [intermediate] });
    const base = { trustAnchors: [root], at };
    await expect(
      cmsVerify(der, data, { ...base, signerSerial: signer.cert.serialNumber.toLowerCase() }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      cmsVerify(der, data, { ...base, signerSerial: intermediate.serialNumber }),
    ).resolves.toMatchObject({ ok: false, reason: expect.stringContaining("serial") });
    await expect(
      cmsVerify(der, data, { ...base, signerSubject: "CN=h2h.jadebank.example, O=Jade Bank" }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      cmsVerify(der, data, { ...base, signerSubject: "CN=evil.example" }),
    ).resolves.toMatchObject({ ok: false, reason: expect.stringContaining("subject") });
  });

  it("verifies the SM2 certificate signatures of GmSSL's test CA, and refuses a changed one", async () => {
    const pem = readFileSync(
      join(import.meta.dirname, "fixtures/gmssl-test-ca-chain.p7b.pem"),
      "utf8",
    );
    const der = Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----|\s+/g, ""), "base64");
    const signedData = new pkijs.SignedData({
      schema: pkijs.ContentInfo.fromBER(der).content,
    });
    const [gmRoot, middle] = (signedData.certificates ?? []) as pkijs.Certificate[];
    const engine = new Sm2CryptoEngine();
    await expect(middle!.verify(gmRoot, engine)).resolves.toBe(true);
    await expect(gmRoot!.verify(undefined, engine)).resolves.toBe(true);
    const chain = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [gmRoot!],
      certs: [middle!],
      checkDate: at,
    });
    await expect(chain.verify({}, engine)).resolves.toMatchObject({ result: true });
    const changed = pkijs.Certificate.fromBER(middle!.toSchema().toBER(false));
    changed.serialNumber.valueBlock.valueHexView[0]! ^= 1;
    changed.tbsView = new Uint8Array(changed.encodeTBS().toBER(false));
    await expect(changed.verify(gmRoot, engine)).resolves.toBe(false);
  });

  it("never throws for bytes that are not CMS", async () => {
    await expect(
      cmsVerify(Buffer.from("not der"), data, { trustAnchors: [root], at }),
    ).resolves.toMatchObject({ ok: false, reason: expect.stringContaining("not a CMS") });
  });
});
