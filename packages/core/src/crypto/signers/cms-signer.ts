import type { Clock } from "../../ports/clock.ts";
import { cmsSign, cmsVerify } from "../cms/cms-signed-data.ts";
import type { CmsSignatureOptions } from "../configurable/options.ts";
import type { PrivateKey, PublicKey } from "../keys/loaded-keys.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

/**
 * CMS/PKCS#7 SignedData with RSA-SHA256 as a signature scheme: the signature bytes are the DER of
 * the ContentInfo. Verification does not use the key chosen by key id: the message names its
 * signer, whose certificate must chain to one of `anchors` (the certificates of
 * `keys.verifying`) and be valid now.
 */
export function createCmsScheme(
  signingKey: PrivateKey | undefined,
  anchors: readonly PublicKey[],
  options: CmsSignatureOptions,
  clock: Pick<Clock, "now">,
): SignatureScheme {
  const trustAnchors = anchors.flatMap((key) => (key.certificate ? [key.certificate] : []));
  return {
    symmetric: false,
    sign(data) {
      if (signingKey?.kind !== "private" || signingKey.certificate === undefined) {
        return Promise.reject(
          new TypeError(
            "cms-rsa-sha256 needs an RSA keys.signing with its certificate (a PKCS#12 file, or certificate next to the key)",
          ),
        );
      }
      return cmsSign(data, signingKey.key, signingKey.certificate, {
        now: new Date(clock.now()),
        ...(options.attached === undefined ? {} : { attached: options.attached }),
        ...(options.signedAttributes === undefined
          ? {}
          : { signedAttributes: options.signedAttributes }),
        ...(options.includeCertificate === undefined
          ? {}
          : { includeCertificate: options.includeCertificate }),
      });
    },
    async verify(data, signature) {
      const result = await cmsVerify(signature, data, {
        trustAnchors,
        at: new Date(clock.now()),
        ...(options.signerSerial === undefined ? {} : { signerSerial: options.signerSerial }),
        ...(options.signerSubject === undefined ? {} : { signerSubject: options.signerSubject }),
      });
      return result.ok;
    },
  };
}
