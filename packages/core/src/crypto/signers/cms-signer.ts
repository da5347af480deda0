import type { Clock } from "../../ports/clock.ts";
import type { CertificateTrust } from "../certificates/trusted-certificates.ts";
import { cmsSign, cmsVerify } from "../cms/cms-signed-data.ts";
import type { SignaturePart } from "../configurable/options.ts";
import type { PrivateKey, PublicKey } from "../keys/loaded-keys.ts";
import { isSm2Certificate } from "../keys/sm2-key-forms.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

/**
 * CMS/PKCS#7 SignedData as a signature scheme (`cms-rsa-sha256`, `cms-sm2-sm3`): the signature
 * bytes are the DER of the ContentInfo. Verification does not use the key chosen by key id: the
 * message names its signer, whose certificate must chain to one of the certificates of
 * `keys.verifying` (trust anchors) and be valid now. Those certificates also complete a message
 * that names its signer by issuer and serial (or key identifier) without carrying the
 * certificate: the partner's own certificate, configured there, is then found and trusted.
 */
export function createCmsScheme(
  algorithm: "cms-rsa-sha256" | "cms-sm2-sm3",
  signingKey: PrivateKey | undefined,
  verifying: readonly PublicKey[],
  trust: CertificateTrust | undefined,
  part: Pick<SignaturePart, "cms" | "userId">,
  clock: Pick<Clock, "now">,
): SignatureScheme {
  const cms = part.cms ?? {};
  // keys.trust, when given, names the anchors and the pin; keys.verifying then only completes
  // paths and names signers the message references.
  const configured = verifying.flatMap((key) => (key.certificate ? [key.certificate] : []));
  const trustAnchors = trust?.anchors ?? configured;
  const intermediates = [...(trust?.intermediates ?? []), ...configured];
  const options = {
    ...cms,
    signerSerial: cms.signerSerial ?? trust?.pin.serial,
    signerSubject: cms.signerSubject ?? trust?.pin.subject,
  };
  const sm2 = algorithm === "cms-sm2-sm3";
  return {
    symmetric: false,
    sign(data) {
      const key =
        sm2 && signingKey?.kind === "sm2-private"
          ? signingKey
          : !sm2 && signingKey?.kind === "private"
            ? signingKey
            : undefined;
      if (key?.certificate === undefined) {
        return Promise.reject(
          new TypeError(
            sm2
              ? "cms-sm2-sm3 needs an SM2 keys.signing with its certificate (certificate next to the key)"
              : "cms-rsa-sha256 needs an RSA keys.signing with its certificate (a PKCS#12 file, or certificate next to the key)",
          ),
        );
      }
      return cmsSign(data, key.kind === "private" ? key.key : key, key.certificate, {
        now: new Date(clock.now()),
        ...(cms.attached === undefined ? {} : { attached: cms.attached }),
        ...(cms.signedAttributes === undefined ? {} : { signedAttributes: cms.signedAttributes }),
        ...(cms.includeCertificate === undefined
          ? {}
          : { includeCertificate: cms.includeCertificate }),
        ...(sm2 && cms.oids !== undefined ? { oids: cms.oids } : {}),
        ...(sm2 && part.userId !== undefined ? { userId: part.userId } : {}),
      });
    },
    async verify(data, signature) {
      const result = await cmsVerify(signature, data, {
        trustAnchors,
        intermediates,
        at: new Date(clock.now()),
        ...(options.signerSerial === undefined ? {} : { signerSerial: options.signerSerial }),
        ...(options.signerSubject === undefined ? {} : { signerSubject: options.signerSubject }),
        ...(sm2 && part.userId !== undefined ? { userId: part.userId } : {}),
      });
      // A channel configured for SM2 accepts SM2 signers only, and one for RSA RSA signers only.
      return result.ok && isSm2Certificate(result.signer.raw) === sm2;
    },
  };
}
