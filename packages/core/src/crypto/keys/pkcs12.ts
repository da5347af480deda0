import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { createRequire } from "node:module";

// node-forge is CommonJS without named-export hints; require it rather than rely on interop.
const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");

/**
 * Reads a PKCS#12 (.p12/.pfx) file, which node:crypto cannot parse. node-forge is used here and
 * for nothing else: it is ~40x slower than OpenSSL, so the key is converted to a node:crypto
 * KeyObject straight away and all signing and decryption happens in OpenSSL. Called once per key
 * (the key cache keeps the result). `certificates` holds every certificate of the file (the
 * leaf and any chain), in file order; `certificate` is the first.
 */
export function readPkcs12(
  der: Buffer,
  password: string,
): { privateKey?: KeyObject; certificate?: X509Certificate; certificates: X509Certificate[] } {
  const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString("binary")));
  const p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  const shrouded =
    p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[
      forge.pki.oids.pkcs8ShroudedKeyBag ?? ""
    ] ?? [];
  const plain = p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag ?? ""] ?? [];
  const certs =
    p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag ?? ""] ?? [];
  const forgeKey = [...shrouded, ...plain].find((bag) => bag.key !== undefined)?.key;
  const certificates = certs.flatMap((bag) =>
    bag.cert === undefined ? [] : [new X509Certificate(forge.pki.certificateToPem(bag.cert))],
  );
  const result: {
    privateKey?: KeyObject;
    certificate?: X509Certificate;
    certificates: X509Certificate[];
  } = { certificates };
  if (forgeKey !== undefined) {
    result.privateKey = createPrivateKey(forge.pki.privateKeyToPem(forgeKey));
  }
  if (certificates[0] !== undefined) result.certificate = certificates[0];
  return result;
}
