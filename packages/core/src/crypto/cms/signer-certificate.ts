import type { X509Certificate } from "node:crypto";
import type * as asn1js from "asn1js";
import * as pkijs from "pkijs";

/**
 * What a SignedData takes from its signer's certificate, prepared once per certificate: parsing a
 * certificate with PKI.js, and re-encoding it (PKI.js re-parses the TBS part on every encoding),
 * cost more main-thread time per message than the signature itself.
 *
 * The pieces are immutable and shared by concurrent signatures: they encode as the DER bytes
 * computed here, so a message gets the same bytes it got when they were built per message.
 */
export interface SignerCertificate {
  /** The signer's issuer and serial number, the SignerInfo's `sid`. */
  readonly sid: pkijs.IssuerAndSerialNumber;
  /** The certificate as a SignedData carries it. */
  readonly certificate: pkijs.Certificate;
}

const prepared = new WeakMap<X509Certificate, SignerCertificate>();
const certificates = new WeakMap<X509Certificate, pkijs.Certificate>();

export function signerCertificate(certificate: X509Certificate): SignerCertificate {
  let signer = prepared.get(certificate);
  if (signer === undefined) {
    const parsed = pkijs.Certificate.fromBER(certificate.raw);
    signer = {
      sid: new EncodedIssuerAndSerialNumber(parsed),
      certificate: encodedCertificate(certificate),
    };
    prepared.set(certificate, signer);
  }
  return signer;
}

/** A certificate sent along in a SignedData (the chain), encoded as its own DER. */
export function encodedCertificate(certificate: X509Certificate): pkijs.Certificate {
  let encoded = certificates.get(certificate);
  if (encoded === undefined) {
    encoded = EncodedCertificate.fromBER(certificate.raw);
    certificates.set(certificate, encoded);
  }
  return encoded;
}

/**
 * DER bytes encoded ahead of time, placed in an asn1js tree being encoded: asn1js asks each child
 * of a constructed value for its encoding, through the writer when it passes one.
 */
class EncodedDer {
  readonly #der: Uint8Array;

  constructor(der: Uint8Array) {
    this.#der = der;
  }

  toBER(_sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    // A copy each time: the writer keeps what it is given until it concatenates.
    const copy = this.#der.slice().buffer;
    if (writer === undefined) return copy;
    writer.write(copy);
    return new ArrayBuffer(0);
  }
}

class EncodedCertificate extends pkijs.Certificate {
  readonly #der: Uint8Array;

  constructor(parameters: pkijs.CertificateParameters) {
    super(parameters);
    this.#der = new Uint8Array(super.toSchema().toBER(false));
  }

  override toSchema(encodeFlag = false): asn1js.Sequence {
    if (encodeFlag) return super.toSchema(true);
    return new EncodedDer(this.#der) as unknown as asn1js.Sequence;
  }
}

class EncodedIssuerAndSerialNumber extends pkijs.IssuerAndSerialNumber {
  readonly #der: Uint8Array;

  constructor(certificate: pkijs.Certificate) {
    super({ issuer: certificate.issuer, serialNumber: certificate.serialNumber });
    this.#der = new Uint8Array(super.toSchema().toBER(false));
  }

  override toSchema(): asn1js.Sequence {
    return new EncodedDer(this.#der) as unknown as asn1js.Sequence;
  }
}
