import type { X509Certificate } from "node:crypto";
import * as pkijs from "pkijs";
import { Sm2CryptoEngine } from "../cms/sm2-crypto-engine.ts";

/**
 * X.509 path validation to configured trust anchors, RSA and SM2 alike: PKI.js's
 * `CertificateChainValidationEngine` (issuer search by name and key identifier, signatures,
 * validity dates, CA constraints) on an engine that also checks SM2 signatures with SM3 and
 * GM/T 0009's default user ID. A certificate that is itself a trust anchor (the partner handed
 * out its own certificate) needs no path, only to be valid at the time.
 */
export interface CertificatePathOptions {
  /** Root or intermediate CA certificates trusted to issue, or the partner's own certificate. */
  trustAnchors: readonly X509Certificate[];
  /** Certificates that may complete the path (intermediate CAs), not trusted by themselves. */
  intermediates?: readonly X509Certificate[];
  /** Validity dates are checked at this time. */
  at: Date;
}

/** On success, the dates between which every certificate of the path is valid. */
export type CertificatePathResult =
  | { ok: true; validFrom: Date; validTo: Date }
  | { ok: false; reason: string };

const engine = new Sm2CryptoEngine();

export async function verifyCertificatePath(
  certificate: X509Certificate | pkijs.Certificate,
  options: CertificatePathOptions,
): Promise<CertificatePathResult> {
  const leaf =
    certificate instanceof pkijs.Certificate
      ? certificate
      : toPkijs(certificate as X509Certificate);
  return verifyParsedCertificatePath(leaf, {
    ...options,
    intermediates: (options.intermediates ?? []).map(toPkijs),
  });
}

/**
 * `verifyCertificatePath` for certificates PKI.js has parsed already (those a CMS message
 * carries), with the leaf's DER when the caller has it: no round trip through X509Certificate.
 */
export async function verifyParsedCertificatePath(
  leaf: pkijs.Certificate,
  options: {
    trustAnchors: readonly X509Certificate[];
    intermediates: readonly pkijs.Certificate[];
    at: Date;
    leafDer?: Buffer;
  },
): Promise<CertificatePathResult> {
  const der = options.leafDer ?? Buffer.from(leaf.toSchema().toBER(false));
  if (options.trustAnchors.some((anchor) => anchor.raw.equals(der))) {
    const at = options.at.getTime();
    return leaf.notBefore.value.getTime() <= at && at <= leaf.notAfter.value.getTime()
      ? { ok: true, validFrom: leaf.notBefore.value, validTo: leaf.notAfter.value }
      : {
          ok: false,
          reason: "the certificate is not valid at this time (expired or not yet valid)",
        };
  }
  const chain = new pkijs.CertificateChainValidationEngine({
    trustedCerts: options.trustAnchors.map(toPkijs),
    certs: [...options.intermediates, leaf],
    checkDate: options.at,
  });
  try {
    const result = await chain.verify({}, engine);
    const path = result.certificatePath ?? [leaf];
    return result.result
      ? {
          ok: true,
          validFrom: new Date(Math.max(...path.map((item) => item.notBefore.value.getTime()))),
          validTo: new Date(Math.min(...path.map((item) => item.notAfter.value.getTime()))),
        }
      : {
          ok: false,
          reason: `the certificate does not chain to a trust anchor: ${result.resultMessage}`,
        };
  } catch (error) {
    const message = (error as { resultMessage?: unknown }).resultMessage;
    return {
      ok: false,
      reason: `the certificate does not chain to a trust anchor${typeof message === "string" ? `: ${message}` : ""}`,
    };
  }
}

const parsed = new WeakMap<X509Certificate, pkijs.Certificate>();

/**
 * Parsed once per certificate object: the configured anchors and intermediates come with every
 * message. Path validation only reads the parsed certificates, so concurrent checks share them.
 */
export function toPkijs(certificate: X509Certificate): pkijs.Certificate {
  let result = parsed.get(certificate);
  if (result === undefined) {
    result = pkijs.Certificate.fromBER(certificate.raw);
    parsed.set(certificate, result);
  }
  return result;
}
