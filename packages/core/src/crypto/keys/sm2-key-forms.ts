import { X509Certificate } from "node:crypto";
import { ECParameters, ECPrivateKey } from "@peculiar/asn1-ecc";
import { PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import type { KeyFormat } from "./key-spec.ts";

/**
 * SM2 keys in the forms partners hand them out (GM/T 0010, GM/T 0015): raw hex or base64 (what
 * sm-crypto prints), PKCS#8 or SEC1 PEM/DER private keys, SPKI PEM/DER public keys, and X.509
 * certificates. Parsed with @peculiar's ASN.1 schemas: node:crypto reads these files but cannot
 * export an SM2 key's numbers (no JWK for the SM2 curve), which the SM2 library needs.
 */

export const sm2CurveOid = "1.2.156.10197.1.301";
const ecPublicKeyOid = "1.2.840.10045.2.1";

export const sm2PrivateKeyForms =
  "64 hex digits, base64 of the 32 bytes, or a PKCS#8 or SEC1 (EC) key as PEM or base64 DER";
export const sm2PublicKeyForms =
  "128 or 130 hex digits (04 ‖ x ‖ y), base64 of those bytes, or an SPKI key or X.509 certificate as PEM or base64 DER";

/** An SM2 private key's scalar as 64 lower-case hex digits. Throws an Error naming the forms. */
export function readSm2PrivateHex(bytes: Buffer, format: KeyFormat | undefined): string {
  const text = bytes.toString("utf8").trim();
  const pem = pemBlock(text);
  let scalar: Buffer | undefined;
  if (pem !== undefined) {
    // PRIVATE KEY (PKCS#8), EC PRIVATE KEY or SM2 PRIVATE KEY (SEC1, as OpenSSL writes SM2 keys).
    scalar = pem.label.endsWith("PRIVATE KEY")
      ? (fromPkcs8(pem.der) ?? fromSec1(pem.der))
      : undefined;
  } else if (format === "base64") {
    const raw = Buffer.from(text, "base64");
    scalar = raw.length === 32 ? raw : (fromPkcs8(raw) ?? fromSec1(raw));
  } else if (format === undefined || format === "hex") {
    scalar = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, "hex") : undefined;
  } else {
    throw new Error(`SM2 keys are read as hex, base64 or PEM, not ${format}`);
  }
  if (scalar === undefined || scalar.length !== 32) {
    throw new Error(`not an SM2 private key: expected ${sm2PrivateKeyForms}`);
  }
  return scalar.toString("hex");
}

/** An SM2 public key as `04 ‖ x ‖ y` hex, with its certificate when it came in one. */
export function readSm2Public(
  bytes: Buffer,
  format: KeyFormat | undefined,
): { publicHex: string; certificate?: X509Certificate } {
  const text = bytes.toString("utf8").trim();
  const pem = pemBlock(text);
  let point: Buffer | undefined;
  let certificate: X509Certificate | undefined;
  if (pem?.label === "CERTIFICATE") {
    certificate = new X509Certificate(pem.der);
    point = fromCertificate(pem.der);
  } else if (pem !== undefined) {
    point = pem.label === "PUBLIC KEY" ? fromSpki(pem.der) : undefined;
  } else if (format === "base64") {
    const raw = Buffer.from(text, "base64");
    point = raw.length === 64 || raw.length === 65 ? raw : (fromSpki(raw) ?? fromCertificate(raw));
    if (point !== undefined && fromCertificate(raw) !== undefined)
      certificate = new X509Certificate(raw);
  } else if (format === undefined || format === "hex") {
    point = /^[0-9a-fA-F]{128}([0-9a-fA-F]{2})?$/.test(text) ? Buffer.from(text, "hex") : undefined;
  } else {
    throw new Error(`SM2 keys are read as hex, base64 or PEM, not ${format}`);
  }
  if (point?.length === 64) point = Buffer.concat([Buffer.from([4]), point]);
  if (point === undefined || point.length !== 65 || point[0] !== 4) {
    throw new Error(`not an SM2 public key: expected ${sm2PublicKeyForms}`);
  }
  return certificate === undefined
    ? { publicHex: point.toString("hex") }
    : { publicHex: point.toString("hex"), certificate };
}

/** Whether a certificate (DER) holds an SM2 public key. */
export function isSm2Certificate(der: Buffer): boolean {
  return fromCertificate(der) !== undefined;
}

function pemBlock(text: string): { label: string; der: Buffer } | undefined {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (match === null) return undefined;
  return {
    label: match[1] ?? "",
    der: Buffer.from((match[2] ?? "").replace(/\s+/g, ""), "base64"),
  };
}

/** The scalar of a PKCS#8 key whose algorithm names the SM2 curve; undefined otherwise. */
function fromPkcs8(der: Buffer): Buffer | undefined {
  const info = tryParse(() => AsnConvert.parse(der, PrivateKeyInfo));
  if (info === undefined) return undefined;
  const algorithm = info.privateKeyAlgorithm;
  if (!isSm2Algorithm(algorithm.algorithm, algorithm.parameters)) return undefined;
  return fromSec1(Buffer.from(info.privateKey.buffer), true);
}

/** The scalar of a SEC1 `ECPrivateKey`; its curve, when named, must be SM2. */
function fromSec1(der: Buffer, curveKnown = false): Buffer | undefined {
  const key = tryParse(() => AsnConvert.parse(der, ECPrivateKey));
  if (key === undefined) return undefined;
  const curve = key.parameters?.namedCurve;
  if (curve === undefined ? !curveKnown : curve !== sm2CurveOid) return undefined;
  return leftPad(Buffer.from(key.privateKey.buffer), 32);
}

function fromSpki(der: Buffer): Buffer | undefined {
  const info = tryParse(() => AsnConvert.parse(der, SubjectPublicKeyInfo));
  return info === undefined ? undefined : sm2Point(info);
}

function fromCertificate(der: Buffer): Buffer | undefined {
  const certificate = tryParse(() => AsnConvert.parse(der, Certificate));
  return certificate === undefined
    ? undefined
    : sm2Point(certificate.tbsCertificate.subjectPublicKeyInfo);
}

function sm2Point(info: SubjectPublicKeyInfo): Buffer | undefined {
  if (!isSm2Algorithm(info.algorithm.algorithm, info.algorithm.parameters)) return undefined;
  return Buffer.from(info.subjectPublicKey);
}

/** GM/T 0010 names the curve either as the algorithm or as id-ecPublicKey's parameter. */
function isSm2Algorithm(algorithm: string, parameters: ArrayBuffer | null | undefined): boolean {
  if (algorithm === sm2CurveOid) return true;
  if (algorithm !== ecPublicKeyOid || parameters === null || parameters === undefined) return false;
  const curve = tryParse(() => AsnConvert.parse(parameters, ECParameters));
  return curve?.namedCurve === sm2CurveOid;
}

function leftPad(bytes: Buffer, length: number): Buffer {
  if (bytes.length >= length) return bytes.subarray(bytes.length - length);
  return Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}
