import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CmsSignOptions,
  cmsSign,
  cmsVerify,
} from "../../../src/crypto/cms/cms-signed-data.ts";
import { OpensslCa } from "../../support/crypto/openssl-ca.ts";

/**
 * What a signer's certificate and the partner's keys contribute is prepared once and reused
 * (parsed certificates, issuer and serial, imported public keys): the messages must not change,
 * concurrent signatures must not share per-message state, and a warm verifier must refuse what
 * it refused cold.
 *
 * `fixtures/rsa-signer` holds a test CA's root, intermediate and signer (key and certificate) and
 * the SignedData capflow wrote with them, a certificate parsed for each message, at a fixed time.
 */
describe("CMS SignedData with a prepared signer", () => {
  const fixtures = join(import.meta.dirname, "fixtures", "rsa-signer");
  const pem = (name: string) => readFileSync(join(fixtures, name), "utf8");
  const root = new X509Certificate(pem("root.pem"));
  const intermediate = new X509Certificate(pem("intermediate.pem"));
  const cert = new X509Certificate(pem("signer.pem"));
  const key = createPrivateKey(pem("signer-key.pem"));
  const written = JSON.parse(pem("signed-data.json")) as Record<string, string>;
  const now = new Date(Date.UTC(2026, 11, 6, 8, 0, 0));
  const data = Buffer.from('<?xml version="1.0"?><body><amount>100.00</amount></body>');
  const cases: Record<string, Partial<CmsSignOptions>> = {
    "detached, signed attributes": {},
    "detached, no signed attributes": { signedAttributes: false },
    attached: { attached: true },
    "attached, referenced by issuer and serial": { attached: true, includeCertificate: false },
  };

  it.each(Object.entries(cases))(
    "writes the same bytes as before, cold and warm: %s",
    async (name, options) => {
      for (let round = 0; round < 3; round++) {
        const der = await cmsSign(data, key, cert, { now, chain: [intermediate], ...options });
        expect(der.toString("base64")).toBe(written[name]);
      }
    },
  );

  it("signs many messages concurrently with one key, each verifying over its own content only", async () => {
    const messages = Array.from({ length: 48 }, (_, i) =>
      Buffer.from(`<body><orderNo>L${i}</orderNo><amount>${i}.00</amount></body>`),
    );
    const variants = Object.values(cases);
    const signatures = await Promise.all(
      messages.map((message, i) =>
        cmsSign(message, key, cert, {
          now: new Date(now.getTime() + i * 1000),
          chain: [intermediate],
          ...variants[i % variants.length],
        }),
      ),
    );
    const options = { trustAnchors: [root], intermediates: [intermediate, cert], at: now };
    const results = await Promise.all(
      signatures.map((der, i) => cmsVerify(der, messages[i]!, options)),
    );
    expect(results.map((result) => result.ok)).toEqual(messages.map(() => true));
    const crossed = await Promise.all(
      signatures.map((der, i) => cmsVerify(der, messages[(i + 1) % messages.length]!, options)),
    );
    expect(crossed.map((result) => result.ok)).toEqual(messages.map(() => false));
  });

  it("verifies a message that carries another certificate format next to X.509 ones", async () => {
    // Taking the X.509 certificates out before PKI.js parses the message is skipped then.
    const der = await cmsSign(data, key, cert, { now, chain: [intermediate] });
    const info = pkijs.ContentInfo.fromBER(der);
    const signedData = new pkijs.SignedData({ schema: info.content });
    signedData.certificates?.push(
      new pkijs.OtherCertificateFormat({
        otherCertFormat: "1.3.6.1.4.1.99999.1",
        otherCert: new asn1js.OctetString({ valueHex: new Uint8Array([1, 2, 3]) }),
      }),
    );
    const withOther = Buffer.from(
      new pkijs.ContentInfo({ contentType: info.contentType, content: signedData.toSchema() })
        .toSchema()
        .toBER(false),
    );
    expect(withOther.equals(der)).toBe(false);
    const options = { trustAnchors: [root], at: now };
    await expect(cmsVerify(withOther, data, options)).resolves.toMatchObject({ ok: true });
    await expect(cmsVerify(withOther, Buffer.from("other"), options)).resolves.toMatchObject({
      ok: false,
    });
  });

  it("refuses a SignedData whose certificates field is out of place or doubled, as PKI.js does", async () => {
    const der = await cmsSign(data, key, cert, { now, chain: [intermediate] });
    const options = { trustAnchors: [root], at: now };
    await expect(cmsVerify(der, data, options)).resolves.toMatchObject({ ok: true });
    const rearranged = (move: (fields: asn1js.AsnType[]) => asn1js.AsnType[]) => {
      const info = asn1js.fromBER(new Uint8Array(der)).result as asn1js.Sequence;
      const explicit = info.valueBlock.value[1] as asn1js.Constructed;
      const signedData = explicit.valueBlock.value[0] as asn1js.Sequence;
      // version, digestAlgorithms, encapContentInfo, certificates [0], signerInfos
      signedData.valueBlock.value = move([...signedData.valueBlock.value]);
      return Buffer.from(info.toBER(false));
    };
    const variants = {
      doubled: (f: asn1js.AsnType[]) => [f[0]!, f[1]!, f[2]!, f[3]!, f[3]!, f[4]!],
      "before the content": (f: asn1js.AsnType[]) => [f[0]!, f[1]!, f[3]!, f[2]!, f[4]!],
      first: (f: asn1js.AsnType[]) => [f[3]!, f[0]!, f[1]!, f[2]!, f[4]!],
      "after the signer infos": (f: asn1js.AsnType[]) => [f[0]!, f[1]!, f[2]!, f[4]!, f[3]!],
    };
    for (const [name, move] of Object.entries(variants)) {
      const outcome = await cmsVerify(rearranged(move), data, options).then(
        (result) => (result.ok ? "verified" : "refused"),
        () => "refused",
      );
      expect([name, outcome]).toEqual([name, "refused"]);
    }
  });

  describe("a warm verifier", () => {
    // Another CA of the same names issues a look-alike: same issuer name, same serial, other key.
    let lookAlike: { key: ReturnType<typeof createPrivateKey>; cert: X509Certificate };

    beforeAll(() => {
      const other = new OpensslCa("rsa", "/C=CN/O=Lan Bank Root CA/CN=Lan Bank Root");
      const sub = other.issue({ subject: "/C=CN/O=Lan Bank/CN=Lan Bank Issuing CA", ca: true });
      const leaf = other.issue({ subject: "/C=CN/O=Lan Bank/CN=h2h.lanbank.example" }, sub);
      lookAlike = { key: createPrivateKey(leaf.keyPem), cert: new X509Certificate(leaf.certPem) };
    });

    const warm = async (options: Parameters<typeof cmsVerify>[2]) => {
      for (const der of Object.values(written)) {
        await expect(cmsVerify(Buffer.from(der, "base64"), data, options)).resolves.toMatchObject({
          ok: true,
        });
      }
    };

    it("refuses a tampered signature", async () => {
      const options = { trustAnchors: [root], intermediates: [intermediate, cert], at: now };
      await warm(options);
      for (const der of Object.values(written)) {
        // The SignerInfo's signature is the last field of the DER.
        const tampered = Buffer.from(der, "base64");
        tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
        await expect(cmsVerify(tampered, data, options)).resolves.toMatchObject({ ok: false });
      }
    });

    it("refuses a signature by another certificate of the same issuer name and serial", async () => {
      expect(lookAlike.cert.serialNumber).toBe(cert.serialNumber);
      expect(lookAlike.cert.issuer).toBe(cert.issuer);
      const options = { trustAnchors: [root], intermediates: [intermediate, cert], at: now };
      await warm(options);
      // Carrying its own certificate: it does not chain to the trusted root.
      const carried = await cmsSign(data, lookAlike.key, lookAlike.cert, { now });
      await expect(cmsVerify(carried, data, options)).resolves.toMatchObject({ ok: false });
      // Referenced by issuer and serial: the configured certificate's key does not verify it.
      const referenced = await cmsSign(data, lookAlike.key, lookAlike.cert, {
        now,
        includeCertificate: false,
      });
      await expect(cmsVerify(referenced, data, options)).resolves.toMatchObject({ ok: false });
      // The genuine certificate carried, another key's signature.
      const swapped = await cmsSign(data, lookAlike.key, cert, { now, chain: [intermediate] });
      await expect(cmsVerify(swapped, data, options)).resolves.toMatchObject({ ok: false });
      // And the genuine signer still verifies after all that.
      await warm(options);
    });
  });
});
