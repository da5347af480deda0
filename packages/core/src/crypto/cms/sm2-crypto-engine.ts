import { createHash, webcrypto } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { sm2 } from "sm-crypto-v2";
import { defaultSm2UserId } from "../sm2.ts";
import { gmOid, sm2SignatureOids } from "./cms-oids.ts";

type EngineCrypto = ConstructorParameters<typeof pkijs.CryptoEngine>[0]["crypto"];
// WebCrypto's DOM types, as PKI.js declares them (this package compiles without the DOM library).
type Algorithm = Parameters<pkijs.CryptoEngine["getOIDByAlgorithm"]>[0];
type DigestAlgorithm = Parameters<pkijs.CryptoEngine["digest"]>[0];
type BufferSource = Parameters<pkijs.CryptoEngine["digest"]>[1];
type AlgorithmIdentifierLike = { algorithmId: string };
type PublicKeyInfo = pkijs.PublicKeyInfo;
type PublicKeyParameters = NonNullable<Parameters<pkijs.CryptoEngine["getPublicKey"]>[2]>;
type CryptoKey = Awaited<ReturnType<pkijs.CryptoEngine["getPublicKey"]>>;

/**
 * WebCrypto public keys by algorithm and SubjectPublicKeyInfo DER. A message names the same few
 * keys (the partner's, its CAs') again and again, and importing one is most of a signature check
 * on the event loop. Public keys only, so keyed by their bytes; the oldest goes past the bound.
 */
const importedPublicKeys = new Map<string, Promise<CryptoKey>>();
const importedPublicKeysBound = 256;
const importedPublicKeyMaxBytes = 4 * 1024;

/**
 * PKI.js's crypto engine with SM3 and SM2 added. PKI.js routes every digest and signature check
 * of SignedData verification and of certificate path validation through its engine, so teaching
 * the engine SM2/SM3 lets PKI.js's well-tested CMS and path logic (signer lookup, signed
 * attributes, issuer search, validity dates) serve GM/T 0010 messages and SM2 certificate chains
 * too; WebCrypto itself knows neither. SM3 runs on Node's OpenSSL, SM2 on sm-crypto-v2 (which
 * takes a user ID: OpenSSL's API here cannot).
 *
 * Certificates are signed with GM/T 0009's default user ID; the SignerInfo's signature uses
 * `signerUserId` (the same default unless the partner says otherwise). The two are told apart
 * by their ASN.1 type: a certificate's signature is a BIT STRING, a SignerInfo's an OCTET STRING.
 */
export class Sm2CryptoEngine extends pkijs.CryptoEngine {
  readonly #signerUserId: string;

  constructor(signerUserId: string = defaultSm2UserId) {
    super({ name: "node+sm2", crypto: webcrypto as unknown as EngineCrypto });
    this.#signerUserId = signerUserId;
  }

  // biome-ignore lint/suspicious/noExplicitAny: one body for PKI.js's two overloads
  override getAlgorithmByOID(oid: string, safety?: boolean, target?: string): any {
    if (oid === gmOid.sm3) return { name: "SM3" };
    if (sm2SignatureOids.has(oid)) return { name: "SM2", hash: { name: "SM3" } };
    return super.getAlgorithmByOID(oid, safety, target);
  }

  override getOIDByAlgorithm(algorithm: Algorithm, safety?: boolean, target?: string): string {
    if (algorithm.name.toUpperCase() === "SM3") return gmOid.sm3;
    return super.getOIDByAlgorithm(algorithm, safety, target);
  }

  override getHashAlgorithm(signatureAlgorithm: pkijs.AlgorithmIdentifier): string {
    if (sm2SignatureOids.has(signatureAlgorithm.algorithmId)) return "SM3";
    return super.getHashAlgorithm(signatureAlgorithm);
  }

  override async digest(algorithm: DigestAlgorithm, data: BufferSource): Promise<ArrayBuffer> {
    const name = typeof algorithm === "string" ? algorithm : (algorithm as { name: string }).name;
    if (name.toUpperCase() === "SM3") {
      const digest = createHash("sm3").update(bytesOf(data)).digest();
      return digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength);
    }
    return super.digest(algorithm, data);
  }

  override getPublicKey(
    publicKeyInfo: PublicKeyInfo,
    signatureAlgorithm: pkijs.AlgorithmIdentifier,
    parameters?: PublicKeyParameters,
  ): Promise<CryptoKey> {
    const filled = parameters ?? this.fillPublicKeyParameters(publicKeyInfo, signatureAlgorithm);
    const spki = publicKeyInfo.toSchema().toBER(false);
    // PKI.js's own getPublicKey passes the same; its types differ in the DOM-less build.
    const algorithm = filled.algorithm.algorithm as Parameters<pkijs.CryptoEngine["importKey"]>[2];
    const importNow = () => this.importKey("spki", spki, algorithm, true, filled.algorithm.usages);
    // No real key is this large (RSA-8192 is about 1.1 KB): imported, but not kept.
    if (spki.byteLength > importedPublicKeyMaxBytes) return importNow();
    const name = `${JSON.stringify(filled.algorithm)} ${Buffer.from(spki).toString("base64")}`;
    let key = importedPublicKeys.get(name);
    if (key === undefined) {
      key = importNow();
      importedPublicKeys.set(name, key);
      key.catch(() => importedPublicKeys.delete(name));
      if (importedPublicKeys.size > importedPublicKeysBound) {
        importedPublicKeys.delete(importedPublicKeys.keys().next().value as string);
      }
    }
    return key;
  }

  override async verifyWithPublicKey(
    data: BufferSource,
    signature: asn1js.BitString | asn1js.OctetString,
    publicKeyInfo: PublicKeyInfo,
    signatureAlgorithm: AlgorithmIdentifierLike,
    shaAlgorithm?: string,
  ): Promise<boolean> {
    if (!isSm2(publicKeyInfo, signatureAlgorithm)) {
      return super.verifyWithPublicKey(
        data,
        signature,
        publicKeyInfo,
        signatureAlgorithm as pkijs.AlgorithmIdentifier,
        shaAlgorithm,
      );
    }
    if (shaAlgorithm !== undefined && shaAlgorithm !== "" && shaAlgorithm.toUpperCase() !== "SM3") {
      return false; // SM2 is only ever paired with SM3
    }
    const point = Buffer.from(publicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
    const value = Buffer.from(signature.valueBlock.valueHexView);
    const userId = signature instanceof asn1js.OctetString ? this.#signerUserId : defaultSm2UserId;
    return verifySm2(bytesOf(data), value, point, userId);
  }
}

/** Whether a key is on the SM2 curve (an `id-ecPublicKey` with SM2 parameters) or named SM2. */
function isSm2(publicKeyInfo: PublicKeyInfo, signatureAlgorithm: AlgorithmIdentifierLike): boolean {
  if (sm2SignatureOids.has(signatureAlgorithm.algorithmId)) return true;
  const params = publicKeyInfo.algorithm.algorithmParams as unknown;
  return params instanceof asn1js.ObjectIdentifier && params.valueBlock.toString() === gmOid.sm2;
}

/** DER `SM2Signature ::= SEQUENCE { r, s }` (GM/T 0009); r ‖ s (64 bytes) is accepted too. */
function verifySm2(data: Buffer, signature: Buffer, point: Buffer, userId: string): boolean {
  if (point.length !== 65 || point[0] !== 4) return false;
  const publicKey = sm2PublicPoint(point.toString("hex"));
  if (publicKey === undefined) return false;
  try {
    const check = (der: boolean) => {
      try {
        return sm2.doVerifySignature(data, signature.toString("hex"), publicKey, {
          hash: true,
          der,
          userId,
        });
      } catch {
        return false;
      }
    };
    const looksDer = signature[0] === 0x30 && signature[1] === signature.length - 2;
    return looksDer ? check(true) || (signature.length === 64 && check(false)) : check(false);
  } catch {
    return false;
  }
}

type Sm2Point = ReturnType<typeof sm2.precomputePublicKey>;

/**
 * SM2 public keys by hex, checked on the curve once. The same few keys (the partner's, its CAs')
 * check every message, and the pure-JS point work is most of an SM2 check, so a key seen again
 * is precomputed for multiplication and kept. Not on its first sighting: a signer's key comes
 * from the message, before its certificate is validated, and precomputing costs several checks'
 * time, so a sender of ever new keys would get that work done for free. A small window (4) keeps
 * the precomputation near one check's cost. Hex (first sighting) or the precomputed point;
 * undefined for a point off the curve; the oldest goes past the bound.
 */
const sm2Points = new Map<string, Sm2Point | string | undefined>();
const sm2PointsBound = 256;
const sm2PrecomputeWindow = 4;

function sm2PublicPoint(publicHex: string): Sm2Point | string | undefined {
  if (sm2Points.has(publicHex)) {
    const known = sm2Points.get(publicHex);
    if (typeof known !== "string") return known;
    const point = sm2.precomputePublicKey(publicHex, sm2PrecomputeWindow);
    sm2Points.set(publicHex, point);
    return point;
  }
  let onCurve: string | undefined;
  try {
    onCurve = sm2.verifyPublicKey(publicHex) ? publicHex : undefined;
  } catch {
    onCurve = undefined;
  }
  sm2Points.set(publicHex, onCurve);
  if (sm2Points.size > sm2PointsBound) sm2Points.delete(sm2Points.keys().next().value as string);
  return onCurve;
}

function bytesOf(data: BufferSource): Buffer {
  return ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data);
}
