import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cmsSign, cmsVerify } from "../../../src/crypto/cms/cms-signed-data.ts";
import { OpensslCa, openssl } from "../../support/crypto/openssl-ca.ts";

/**
 * CMS SignedData against `openssl cms`, both ways: what OpenSSL signs, capflow verifies; what
 * capflow signs, OpenSSL verifies. A bank's CA issues an intermediate, which issues the bank's
 * signing certificate; another CA issues a look-alike.
 */
describe("CMS SignedData, differential with openssl cms", () => {
  const at = new Date(Date.UTC(2026, 11, 6, 8, 0, 0));
  const data = Buffer.from('<?xml version="1.0"?><body><amount>100.00</amount></body>');
  let ca: OpensslCa;
  let other: OpensslCa;
  let root: X509Certificate;
  let intermediate: X509Certificate;
  let signerFiles: { key: string; cert: string; chain: string };
  let signer: { key: ReturnType<typeof createPrivateKey>; cert: X509Certificate };

  beforeAll(() => {
    ca = new OpensslCa("rsa", "/C=CN/O=Lan Bank Root CA/CN=Lan Bank Root");
    const sub = ca.issue({ subject: "/C=CN/O=Lan Bank/CN=Lan Bank Issuing CA", ca: true });
    const leaf = ca.issue({ subject: "/C=CN/O=Lan Bank/CN=h2h.lanbank.example" }, sub);
    other = new OpensslCa("rsa", "/C=CN/O=Lan Bank Root CA/CN=Lan Bank Root");
    root = new X509Certificate(ca.root.certPem);
    intermediate = new X509Certificate(sub.certPem);
    writeFileSync(join(ca.dir, "data.bin"), data);
    writeFileSync(join(ca.dir, "chain.pem"), sub.certPem);
    signerFiles = { key: leaf.keyFile, cert: leaf.certFile, chain: "chain.pem" };
    signer = { key: createPrivateKey(leaf.keyPem), cert: new X509Certificate(leaf.certPem) };
  });

  const opensslSign = (extra: string[]) => {
    openssl(
      [
        "cms",
        "-sign",
        "-binary",
        "-in",
        "data.bin",
        "-signer",
        signerFiles.cert,
        "-inkey",
        signerFiles.key,
        "-certfile",
        signerFiles.chain,
        "-md",
        "sha256",
        "-outform",
        "DER",
        "-out",
        "sig.der",
        ...extra,
      ],
      ca.dir,
    );
    return readFileSync(join(ca.dir, "sig.der"));
  };

  it.each([
    ["detached, with signed attributes", []],
    ["detached, without signed attributes", ["-noattr"]],
    ["attached", ["-nodetach"]],
  ])("verifies what openssl signs: %s", async (_name, extra) => {
    const der = opensslSign(extra);
    await expect(cmsVerify(der, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: true,
    });
    // The same bytes, one changed: refused.
    const tampered = Buffer.from(data);
    const at10 = tampered.length - 10;
    tampered.writeUInt8(tampered.readUInt8(at10) ^ 1, at10);
    await expect(cmsVerify(der, tampered, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: false,
    });
  });

  it.each([
    ["detached, with signed attributes", {}],
    ["detached, without signed attributes", { signedAttributes: false }],
    ["attached", { attached: true }],
  ])("openssl verifies what capflow signs: %s", async (_name, options) => {
    const der = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      chain: [intermediate],
      ...options,
    });
    writeFileSync(join(ca.dir, "ours.der"), der);
    const args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", "ours.der"];
    const content = "attached" in options ? [] : ["-content", "data.bin"];
    const out = openssl(
      [
        ...args,
        ...content,
        "-CAfile",
        ca.root.certFile,
        "-purpose",
        "any",
        "-attime",
        String(at.getTime() / 1000),
      ],
      ca.dir,
    );
    expect(out.equals(data)).toBe(true);
    // And capflow verifies its own.
    await expect(cmsVerify(der, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: true,
    });
  });

  it("refuses a signer from another CA, one whose chain is missing, and one outside its validity", async () => {
    const der = opensslSign([]);
    const otherRoot = new X509Certificate(other.root.certPem);
    await expect(cmsVerify(der, data, { trustAnchors: [otherRoot], at })).resolves.toMatchObject({
      ok: false,
      reason: expect.stringMatching(/chain|trust|certificate/i),
    });
    const referenced = await cmsSign(data, signer.key, signer.cert, {
      now: at,
      includeCertificate: false,
    });
    await expect(cmsVerify(referenced, data, { trustAnchors: [root], at })).resolves.toMatchObject({
      ok: false,
    });
    await expect(
      cmsVerify(referenced, data, {
        trustAnchors: [root],
        intermediates: [intermediate, signer.cert],
        at,
      }),
    ).resolves.toMatchObject({ ok: true });
    const later = new Date(Date.UTC(2050, 0, 1));
    await expect(cmsVerify(der, data, { trustAnchors: [root], at: later })).resolves.toMatchObject({
      ok: false,
    });
  });

  it("finds a signer openssl names by subject key identifier, without its certificate, among the configured ones", async () => {
    const der = opensslSign(["-keyid", "-nocerts"]);
    const printed = openssl(
      ["cms", "-cmsout", "-print", "-inform", "DER", "-in", "sig.der"],
      ca.dir,
    );
    expect(printed.toString()).toMatch(/d\.subjectKeyIdentifier/);
    await expect(
      cmsVerify(der, data, { trustAnchors: [root], intermediates: [intermediate], at }),
    ).resolves.toMatchObject({ ok: false });
    await expect(
      cmsVerify(der, data, {
        trustAnchors: [root],
        intermediates: [intermediate, signer.cert],
        at,
      }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      cmsVerify(der, data, { trustAnchors: [signer.cert], intermediates: [signer.cert], at }),
    ).resolves.toMatchObject({ ok: true });
  });

  it("checks a pinned serial and subject", async () => {
    const der = opensslSign([]);
    const base = { trustAnchors: [root], at };
    await expect(
      cmsVerify(der, data, { ...base, signerSerial: signer.cert.serialNumber.toLowerCase() }),
    ).resolves.toMatchObject({ ok: true });
    await expect(cmsVerify(der, data, { ...base, signerSerial: "01" })).resolves.toMatchObject({
      ok: false,
      reason: expect.stringContaining("serial"),
    });
    await expect(
      cmsVerify(der, data, { ...base, signerSubject: "CN=h2h.lanbank.example, O=Lan Bank" }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      cmsVerify(der, data, { ...base, signerSubject: "CN=evil.example" }),
    ).resolves.toMatchObject({ ok: false, reason: expect.stringContaining("subject") });
  });

  it("never throws for bytes that are not CMS", async () => {
    await expect(
      cmsVerify(Buffer.from("not der"), data, { trustAnchors: [root], at }),
    ).resolves.toMatchObject({ ok: false, reason: expect.stringContaining("not a CMS") });
  });
});
