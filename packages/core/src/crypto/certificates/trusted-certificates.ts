import type { X509Certificate } from "node:crypto";
import type { Clock } from "../../ports/clock.ts";
import { verifyCertificatePath } from "./certificate-path.ts";
import { type CertificatePin, certificatePinProblem } from "./certificate-pin.ts";

/** Trust anchors, intermediates and pin a partner's certificates are checked against. */
export interface CertificateTrust {
  anchors: readonly X509Certificate[];
  intermediates: readonly X509Certificate[];
  pin: CertificatePin;
}

/** Whether a partner's certificate may verify a message now; the reason when it may not. */
export interface TrustedCertificates {
  readonly trust: CertificateTrust;
  problem(certificate: X509Certificate): Promise<string | undefined>;
}

/**
 * Checks a certificate's path to the anchors, every certificate on it valid at the clock's now,
 * and the pin. A path that verified is remembered with the dates it is valid between, so later
 * messages cost a date comparison, not the path's signatures; a failure is never remembered.
 */
export function createTrustedCertificates(
  trust: CertificateTrust,
  clock: Pick<Clock, "now">,
): TrustedCertificates {
  const verified = new Map<string, { from: number; to: number }>();
  return {
    trust,
    async problem(certificate) {
      const pinned = certificatePinProblem(certificate, trust.pin);
      if (pinned !== undefined) return pinned;
      const now = clock.now();
      const key = certificate.fingerprint256;
      const known = verified.get(key);
      if (known !== undefined && known.from <= now && now <= known.to) return undefined;
      const result = await verifyCertificatePath(certificate, {
        trustAnchors: trust.anchors,
        intermediates: trust.intermediates,
        at: new Date(now),
      });
      if (!result.ok) return result.reason;
      verified.set(key, { from: result.validFrom.getTime(), to: result.validTo.getTime() });
      return undefined;
    },
  };
}
