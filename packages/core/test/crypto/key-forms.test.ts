import { createPrivateKey, X509Certificate } from "node:crypto";
import { createRequire } from "node:module";
import { AlipaySdk } from "alipay-sdk";
import { describe, expect, it } from "vitest";
import { certificateId } from "../../src/crypto/keys/certificate-id.ts";
import { loadPrivateKey, loadPublicKey } from "../../src/crypto/keys/load-key.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { Redacted } from "../../src/redacted.ts";
import { OpensslCa, openssl } from "../support/crypto/openssl-ca.ts";
import { inline, platform } from "../support/crypto/test-keys.ts";

// sm-crypto 0.5.8, the reference implementation, as the oracle.
const reference = createRequire(import.meta.url)("sm-crypto") as {
  sm2: { getPublicKeyFromPrivateKey(privateHex: string): string };
};
const sm2PublicHex = async (spec: Parameters<typeof loadPublicKey>[0]) => {
  const key = await loadPublicKey(spec, "sm2", ctx);
  if (key.kind !== "sm2-public") throw new Error("expected an SM2 public key");
  return key;
};

const ctx = { secrets: createDefaultSecretResolver({ allowInline: true }), context: {} };
const sm2Ca = new OpensslCa("sm2", "/C=CN/O=Test Bank/CN=Test SM2 Root");
const sm2Leaf = sm2Ca.issue({ subject: "/C=CN/O=Test Bank/OU=Payments/CN=bank signer" });
const der = (pem: string) => createPrivateKey(pem).export({ format: "der", type: "pkcs8" });

describe("SM2 keys in the forms partners deliver", () => {
  const sec1Pem = openssl(["ec", "-in", sm2Leaf.keyFile], sm2Ca.dir).toString();
  const spkiPem = openssl(["pkey", "-in", sm2Leaf.keyFile, "-pubout"], sm2Ca.dir).toString();
  const privateForms: [string, string, "hex" | "base64" | undefined][] = [
    ["PKCS#8 PEM", sm2Leaf.keyPem, undefined],
    ["SEC1 PEM", sec1Pem, undefined],
    ["PKCS#8 DER in base64", der(sm2Leaf.keyPem).toString("base64"), "base64"],
  ];

  it.each(privateForms)(
    "a private key as %s gives the scalar sm-crypto derives the same public key from",
    async (_, text, format) => {
      const key = await loadPrivateKey(
        { ref: inline(text), ...(format ? { format } : {}) },
        "sm2",
        ctx,
      );
      if (key.kind !== "sm2-private") throw new Error("expected an SM2 private key");
      const hex = Redacted.reveal(key.privateHex);
      expect(hex).toMatch(/^[0-9a-f]{64}$/);
      const fromCertificate = await sm2PublicHex({ ref: inline(sm2Leaf.certPem) });
      expect(reference.sm2.getPublicKeyFromPrivateKey(hex)).toBe(fromCertificate.publicHex);
      // The raw hex and base64 forms are the same key.
      const raw = await loadPrivateKey({ ref: inline(hex) }, "sm2", ctx);
      expect(raw.kind === "sm2-private" && raw.publicHex).toBe(key.publicHex);
    },
  );

  it("a public key as SPKI PEM, X.509 certificate (PEM or base64 DER) and hex are one point", async () => {
    const fromSpki = await sm2PublicHex({ ref: inline(spkiPem) });
    const fromCert = await sm2PublicHex({ ref: inline(sm2Leaf.certPem) });
    const certDer = new X509Certificate(sm2Leaf.certPem).raw.toString("base64");
    const fromDer = await sm2PublicHex({ ref: inline(certDer), format: "base64" });
    const fromHex = await sm2PublicHex({ ref: inline(fromSpki.publicHex) });
    expect(fromCert.publicHex).toBe(fromSpki.publicHex);
    expect(fromDer.publicHex).toBe(fromSpki.publicHex);
    expect(fromHex.publicHex).toBe(fromSpki.publicHex);
    // A certificate names its key: by default its serial number in upper-case hex.
    const serial = new X509Certificate(sm2Leaf.certPem).serialNumber.toUpperCase();
    expect(fromCert.id).toBe(serial);
    expect(fromSpki.id).toBeUndefined();
    expect(fromCert.certificate?.serialNumber).toBe(
      new X509Certificate(sm2Leaf.certPem).serialNumber,
    );
  });

  it("a key of another curve, or no key at all, is KEY_INVALID naming the forms expected", async () => {
    const p256 = openssl(
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
      sm2Ca.dir,
    ).toString();
    for (const text of [p256, "not a key", "abcd"]) {
      const error = await loadPrivateKey({ ref: inline(text) }, "sm2", ctx).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "KEY_INVALID" });
      expect((error as Error).message).toContain(
        "64 hex digits, base64 of the 32 bytes, or a PKCS#8 or SEC1",
      );
    }
    const rsaCert = new OpensslCa("rsa", "/CN=RSA Root").root.certPem;
    await expect(loadPublicKey({ ref: inline(rsaCert) }, "sm2", ctx)).rejects.toMatchObject({
      code: "KEY_INVALID",
      message: expect.stringContaining("an SPKI key or X.509 certificate"),
    });
    await expect(loadPrivateKey({ ref: inline(sm2Leaf.keyPem) }, "rsa", ctx)).rejects.toMatchObject(
      {
        code: "KEY_INVALID",
        message: expect.stringContaining("looks like an SM2"),
      },
    );
  });
});

/** alipay-sdk's own certificate serial (getSN is not exported): what its certificate mode computes. */
function getSN(certPem: string): string {
  const sdk = new AlipaySdk({
    appId: "2021000000000001",
    privateKey: platform.privatePem,
    alipayPublicCertContent: certPem,
    alipayRootCertContent: certPem,
    appCertContent: certPem,
  });
  return sdk.config.alipayCertSn ?? "";
}

describe("keys named by their certificate", () => {
  const alipayRoot = new OpensslCa(
    "rsa",
    "/C=CN/O=Ant Financial/OU=Certification Authority/CN=Ant Financial Certification Authority R1",
  );
  const intermediate = alipayRoot.issue({
    subject:
      "/C=CN/O=Ant Financial/OU=Certification Authority/CN=Ant Financial Certification Authority Class 1 R1",
    ca: true,
  });
  const alipayPublic = alipayRoot.issue(
    { subject: "/C=CN/O=Test/OU=Alipay/CN=2021000000000001" },
    intermediate,
  );

  it("alipayCertSn equals alipay-sdk's getSN for the certificate, and serial is the hex serial", () => {
    const cert = new X509Certificate(alipayPublic.certPem);
    expect(certificateId(cert, "alipayCertSn")).toBe(getSN(alipayPublic.certPem));
    expect(certificateId(cert, "alipayCertSn")).toMatch(/^[0-9a-f]{32}$/);
    expect(certificateId(cert)).toBe(cert.serialNumber.toUpperCase());
    expect(certificateId(new X509Certificate(intermediate.certPem), "alipayCertSn")).toBe(
      getSN(intermediate.certPem),
    );
  });

  it("a verification key and a signing key with idFormat alipayCertSn carry that id", async () => {
    const verifying = await loadPublicKey(
      { ref: inline(alipayPublic.certPem), idFormat: "alipayCertSn" },
      "rsa",
      ctx,
    );
    expect(verifying.id).toBe(getSN(alipayPublic.certPem));
    const signing = await loadPrivateKey(
      {
        ref: inline(alipayPublic.keyPem),
        certificate: inline(alipayPublic.certPem),
        idFormat: "alipayCertSn",
      },
      "rsa",
      ctx,
    );
    expect(signing.id).toBe(getSN(alipayPublic.certPem));
  });
});
