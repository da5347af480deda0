import { createHash, type KeyObject, webcrypto, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

/**
 * CMS / PKCS#7 SignedData with RSA (SHA-256), as Chinese banks' host-to-host and loan APIs sign
 * with CFCA certificates: detached or attached, with or without signed attributes, the signer's
 * certificate included or referenced by issuer and serial.
 *
 * Built on PKI.js (PeculiarVentures), which parses and builds the ASN.1 and validates the
 * certificate path to trust anchors with validity dates; it runs on Node's WebCrypto. SM2 with
 * SM3 (GM/T 0010) is not in WebCrypto, so PKI.js cannot verify it; it is not offered here.
 */

const engine = new pkijs.CryptoEngine({
  name: "node",
  crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]["crypto"],
});

const oid = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
} as const;

export interface CmsSignOptions {
  /** The content inside the SignedData (attached) or not (detached, the default). */
  attached?: boolean;
  /** Content type, digest and signing time as signed attributes. Default true. */
  signedAttributes?: boolean;
  /** The signer's certificate in the message. Default true; false: referenced by issuer and serial. */
  includeCertificate?: boolean;
  /** Certificates sent along for the verifier's path (the issuing CA's), as `openssl cms -certfile`. */
  chain?: readonly X509Certificate[];
  /** Signing time (signed attributes). */
  now: Date;
}

/** Signs `data` and returns the DER of a ContentInfo holding the SignedData. */
export async function cmsSign(
  data: Uint8Array,
  key: KeyObject,
  certificate: X509Certificate,
  options: CmsSignOptions,
): Promise<Buffer> {
  const cert = pkijs.Certificate.fromBER(certificate.raw);
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: oid.data,
      ...(options.attached === true
        ? { eContent: new asn1js.OctetString({ valueHex: toArrayBuffer(data) }) }
        : {}),
    }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({
          issuer: cert.issuer,
          serialNumber: cert.serialNumber,
        }),
      }),
    ],
    certificates: [
      ...(options.includeCertificate === false ? [] : [cert]),
      ...(options.chain ?? []).map((item) => pkijs.Certificate.fromBER(item.raw)),
    ],
  });
  if (options.signedAttributes !== false) {
    const digest = createHash("sha256").update(data).digest();
    signedData.signerInfos[0]!.signedAttrs = new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        new pkijs.Attribute({
          type: oid.contentType,
          values: [new asn1js.ObjectIdentifier({ value: oid.data })],
        }),
        new pkijs.Attribute({
          type: oid.messageDigest,
          values: [new asn1js.OctetString({ valueHex: toArrayBuffer(digest) })],
        }),
        new pkijs.Attribute({
          type: oid.signingTime,
          values: [new asn1js.UTCTime({ valueDate: options.now })],
        }),
      ],
    });
  }
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    key.export({ format: "der", type: "pkcs8" }),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  await signedData.sign(
    privateKey as unknown as Parameters<pkijs.SignedData["sign"]>[0],
    0,
    "SHA-256",
    options.attached === true ? undefined : toArrayBuffer(data),
    engine,
  );
  const info = new pkijs.ContentInfo({
    contentType: oid.signedData,
    content: signedData.toSchema(true),
  });
  return Buffer.from(info.toSchema().toBER(false));
}

export interface CmsVerifyOptions {
  /** Certificates trusted to issue the signer's (CA roots or intermediates), or the signer's own. */
  trustAnchors: readonly X509Certificate[];
  /** Certificates that may complete the path when the message does not carry them. */
  intermediates?: readonly X509Certificate[];
  /** The signer must have this certificate serial (hex, any case, leading zeros ignored) ... */
  signerSerial?: string;
  /** ... and/or these subject attributes (`CN=bank.example, O=Lan Bank`). */
  signerSubject?: string;
  /** Validity dates are checked at this time. */
  at: Date;
}

export type CmsVerification = { ok: true; signer: X509Certificate } | { ok: false; reason: string };

/**
 * Verifies a ContentInfo/SignedData over `data`: exactly one signer, the content (attached) equal
 * to `data` or absent (detached), the signature and signed attributes (digest, content type),
 * the signer's certificate path to a trust anchor with every certificate valid at `at`, and the
 * pinned serial or subject. Never throws for malformed input; the reason never holds the data.
 */
export async function cmsVerify(
  der: Uint8Array,
  data: Uint8Array,
  options: CmsVerifyOptions,
): Promise<CmsVerification> {
  let signedData: pkijs.SignedData;
  try {
    const info = pkijs.ContentInfo.fromBER(toArrayBuffer(der));
    if (info.contentType !== oid.signedData) return fail("not a CMS SignedData");
    signedData = new pkijs.SignedData({ schema: info.content });
  } catch {
    return fail("not a CMS SignedData (malformed DER)");
  }
  if (signedData.signerInfos.length !== 1) return fail("a SignedData with one signer is expected");
  const content = signedData.encapContentInfo.eContent;
  if (content !== undefined) {
    const inside = Buffer.from(content.getValue());
    if (!inside.equals(Buffer.from(data))) return fail("the attached content is not the message");
  }
  const known = [...(signedData.certificates ?? [])].filter(
    (item): item is pkijs.Certificate => item instanceof pkijs.Certificate,
  );
  for (const extra of options.intermediates ?? []) known.push(pkijs.Certificate.fromBER(extra.raw));
  signedData.certificates = known;
  let result: pkijs.SignedDataVerifyResult;
  try {
    result = await signedData.verify(
      {
        signer: 0,
        ...(content === undefined ? { data: toArrayBuffer(data) } : {}),
        trustedCerts: options.trustAnchors.map((anchor) => pkijs.Certificate.fromBER(anchor.raw)),
        checkChain: true,
        checkDate: options.at,
        extendedMode: true,
      },
      engine,
    );
  } catch (error) {
    const message = (error as { message?: unknown }).message;
    return fail(typeof message === "string" ? message : "the signature does not verify");
  }
  if (result.signatureVerified !== true) return fail("the signature does not verify");
  if (result.signerCertificateVerified !== true || result.signerCertificate == null) {
    return fail("the signer's certificate does not chain to a trust anchor");
  }
  const signer = new X509Certificate(Buffer.from(result.signerCertificate.toSchema().toBER(false)));
  if (
    options.signerSerial !== undefined &&
    !sameSerial(signer.serialNumber, options.signerSerial)
  ) {
    return fail(`the signer's certificate serial is ${signer.serialNumber}, not the pinned one`);
  }
  if (options.signerSubject !== undefined && !hasSubject(signer, options.signerSubject)) {
    return fail("the signer's certificate subject is not the pinned one");
  }
  return { ok: true, signer };
}

function fail(reason: string): CmsVerification {
  return { ok: false, reason };
}

function sameSerial(a: string, b: string): boolean {
  const normal = (serial: string) =>
    serial
      .replace(/[^0-9a-f]/gi, "")
      .toUpperCase()
      .replace(/^0+/, "");
  return normal(a) === normal(b);
}

/** Every `K=V` of `wanted` (comma separated) is an attribute of the subject. */
function hasSubject(certificate: X509Certificate, wanted: string): boolean {
  const have = new Set(certificate.subject.split("\n").map((part) => part.trim()));
  return wanted
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .every((part) => have.has(part));
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
