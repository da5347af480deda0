import { createHash, KeyObject, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { toPkijs, verifyParsedCertificatePath } from "../certificates/certificate-path.ts";
import { certificatePinProblem } from "../certificates/certificate-pin.ts";
import type { Sm2PrivateKey } from "../keys/loaded-keys.ts";
import { webCryptoPrivateKey } from "../keys/web-crypto-key.ts";
import { defaultSm2UserId, sm2Sign } from "../sm2.ts";
import { takeCarriedCertificates } from "./carried-certificates.ts";
import { type CmsOidFamily, dataOids, gmOid, cmsOid as oid, signedDataOids } from "./cms-oids.ts";
import { encodedCertificate, signerCertificate } from "./signer-certificate.ts";
import { Sm2CryptoEngine } from "./sm2-crypto-engine.ts";

/**
 * CMS / PKCS#7 SignedData, as Chinese banks' host-to-host and loan APIs sign with CFCA
 * certificates: SHA-256 with RSA, or SM3 with SM2 (GM/T 0010); detached or attached, with or
 * without signed attributes, the signer's certificate included or referenced by issuer and serial.
 *
 * Built on PKI.js (PeculiarVentures), which parses and builds the ASN.1 and validates the
 * certificate path to trust anchors with validity dates; it runs on Node's WebCrypto, which has
 * no SM2 or SM3, so its crypto engine is extended with them (sm2-crypto-engine.ts) and SM2
 * SignerInfos are signed here over the DER of the signed attributes.
 */

const engine = new Sm2CryptoEngine();

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
  /**
   * SM2 only: content types of RFC 5652 (`pkcs7`, as OpenSSL writes them) or of GM/T 0010
   * (`gm`, the default: `1.2.156.10197.6.1.4.2.*`, with SM2-1 as the signature algorithm).
   */
  oids?: CmsOidFamily;
  /** SM2 only: the signer's user ID. Default `1234567812345678` (GM/T 0009). */
  userId?: string;
}

/**
 * Signs `data` and returns the DER of a ContentInfo holding the SignedData: RSA with SHA-256 for
 * a node:crypto RSA key, SM2 with SM3 for an SM2 key.
 */
export async function cmsSign(
  data: Uint8Array,
  key: KeyObject | Sm2PrivateKey,
  certificate: X509Certificate,
  options: CmsSignOptions,
): Promise<Buffer> {
  if (!(key instanceof KeyObject)) return cmsSignSm2(data, key, certificate, options);
  const signer = signerCertificate(certificate);
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: oid.data,
      ...(options.attached === true
        ? { eContent: new asn1js.OctetString({ valueHex: toArrayBuffer(data) }) }
        : {}),
    }),
    signerInfos: [new pkijs.SignerInfo({ version: 1, sid: signer.sid })],
    certificates: [
      ...(options.includeCertificate === false ? [] : [signer.certificate]),
      ...(options.chain ?? []).map(encodedCertificate),
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
  const privateKey = await webCryptoPrivateKey(
    key,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    "sign",
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

/**
 * SM2 with SM3: PKI.js builds the structure; the signature is made here, over the signed
 * attributes as a DER SET (sorted, as DER wants a SET OF) or over the content without them.
 */
async function cmsSignSm2(
  data: Uint8Array,
  key: Sm2PrivateKey,
  certificate: X509Certificate,
  options: CmsSignOptions,
): Promise<Buffer> {
  const gm = options.oids !== "pkcs7";
  const dataType = gm ? gmOid.data : oid.data;
  const signer = signerCertificate(certificate);
  const sm3 = () => new pkijs.AlgorithmIdentifier({ algorithmId: gmOid.sm3 });
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: signer.sid,
    digestAlgorithm: sm3(),
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: gm ? gmOid.sm2Sign : gmOid.sm2WithSm3,
    }),
  });
  let signed: Buffer = Buffer.from(data);
  if (options.signedAttributes !== false) {
    const attributes = [
      new pkijs.Attribute({
        type: oid.contentType,
        values: [new asn1js.ObjectIdentifier({ value: dataType })],
      }),
      new pkijs.Attribute({
        type: oid.messageDigest,
        values: [
          new asn1js.OctetString({
            valueHex: toArrayBuffer(createHash("sm3").update(data).digest()),
          }),
        ],
      }),
      new pkijs.Attribute({
        type: oid.signingTime,
        values: [new asn1js.UTCTime({ valueDate: options.now })],
      }),
    ]
      .map((attribute) => ({
        attribute,
        der: Buffer.from(attribute.toSchema().toBER(false)),
      }))
      .sort((a, b) => Buffer.compare(a.der, b.der))
      .map(({ attribute }) => attribute);
    signerInfo.signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes });
    // Signed as a SET (tag 0x31), sent as [0] IMPLICIT (RFC 5652 §5.4).
    signed = Buffer.from(signerInfo.signedAttrs.toSchema().toBER(false));
    signed[0] = 0x31;
  }
  const signature = sm2Sign(signed, key, {
    userId: options.userId ?? defaultSm2UserId,
    encoding: "der",
  });
  signerInfo.signature = new asn1js.OctetString({ valueHex: toArrayBuffer(signature) });
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [sm3()],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: dataType,
      ...(options.attached === true
        ? { eContent: new asn1js.OctetString({ valueHex: toArrayBuffer(data) }) }
        : {}),
    }),
    signerInfos: [signerInfo],
    certificates: [
      ...(options.includeCertificate === false ? [] : [signer.certificate]),
      ...(options.chain ?? []).map(encodedCertificate),
    ],
  });
  const info = new pkijs.ContentInfo({
    contentType: gm ? gmOid.signedData : oid.signedData,
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
  /** SM2 signers: the user ID of the SignerInfo's signature. Default `1234567812345678`. */
  userId?: string;
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
  let carried: pkijs.Certificate[] | undefined;
  try {
    const info = pkijs.ContentInfo.fromBER(toArrayBuffer(der));
    if (!signedDataOids.has(info.contentType)) return fail("not a CMS SignedData");
    carried = takeCarriedCertificates(info.content);
    signedData = new pkijs.SignedData({ schema: info.content });
  } catch {
    return fail("not a CMS SignedData (malformed DER)");
  }
  if (signedData.signerInfos.length !== 1) return fail("a SignedData with one signer is expected");
  const contentTypeProblem = signedContentTypeProblem(signedData);
  if (contentTypeProblem !== undefined) return fail(contentTypeProblem);
  const content = signedData.encapContentInfo.eContent;
  if (content !== undefined) {
    const inside = Buffer.from(content.getValue());
    if (!inside.equals(Buffer.from(data))) return fail("the attached content is not the message");
  }
  const known = [...(carried ?? signedData.certificates ?? [])].filter(
    (item): item is pkijs.Certificate => item instanceof pkijs.Certificate,
  );
  // Parsed once per configured certificate; SignedData and path validation only read them.
  for (const extra of options.intermediates ?? []) known.push(toPkijs(extra));
  signedData.certificates = known;
  let result: pkijs.SignedDataVerifyResult;
  try {
    // The signature first; the signer's path below, so a certificate that is itself a trust
    // anchor (the partner's own, configured) needs no issuer.
    result = await signedData.verify(
      {
        signer: 0,
        ...(content === undefined ? { data: toArrayBuffer(data) } : {}),
        checkChain: false,
        extendedMode: true,
      },
      options.userId === undefined || options.userId === defaultSm2UserId
        ? engine
        : new Sm2CryptoEngine(options.userId),
    );
  } catch (error) {
    const message = (error as { message?: unknown }).message;
    return fail(typeof message === "string" ? message : "the signature does not verify");
  }
  if (result.signatureVerified !== true || result.signerCertificate == null) {
    return fail("the signature does not verify");
  }
  const signerDer = Buffer.from(result.signerCertificate.toSchema().toBER(false));
  const signer = new X509Certificate(signerDer);
  const path = await verifyParsedCertificatePath(result.signerCertificate, {
    trustAnchors: options.trustAnchors,
    intermediates: known.filter((item) => item !== result.signerCertificate),
    at: options.at,
    leafDer: signerDer,
  });
  if (!path.ok) return fail(`the signer's certificate: ${path.reason}`);
  const pinProblem = certificatePinProblem(signer, {
    ...(options.signerSerial === undefined ? {} : { serial: options.signerSerial }),
    ...(options.signerSubject === undefined ? {} : { subject: options.signerSubject }),
  });
  if (pinProblem !== undefined) return fail(`the signer's certificate: ${pinProblem}`);
  return { ok: true, signer };
}

/**
 * The signed content-type attribute must name the content's type (RFC 5652 §11.1), which PKI.js
 * only checks for presence; the content is data of PKCS#7 or of GM/T 0010.
 */
function signedContentTypeProblem(signedData: pkijs.SignedData): string | undefined {
  const eContentType = signedData.encapContentInfo.eContentType;
  if (!dataOids.has(eContentType)) return `the signed content type ${eContentType} is not data`;
  const attributes = signedData.signerInfos[0]?.signedAttrs?.attributes ?? [];
  const contentType = attributes.find((attribute) => attribute.type === oid.contentType);
  if (contentType === undefined) return undefined;
  const value = contentType.values[0] as unknown;
  return value instanceof asn1js.ObjectIdentifier && value.valueBlock.toString() === eContentType
    ? undefined
    : "the signed content-type attribute does not name the content's type";
}

function fail(reason: string): CmsVerification {
  return { ok: false, reason };
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
