import type { ErrorContext } from "../../errors.ts";
import type { TrustedCertificates } from "../certificates/trusted-certificates.ts";
import { verifyFailed } from "../failures.ts";
import type { PublicKey } from "../keys/loaded-keys.ts";

/**
 * The candidate keys whose certificates `keys.trust` accepts now (path to an anchor, dates,
 * pin). None left is `CRYPTO_VERIFY_FAILED` naming the first refusal, so an expired or foreign
 * certificate reads as such rather than as a wrong signature.
 */
export async function trustedKeys(
  candidates: (PublicKey | undefined)[],
  trust: TrustedCertificates,
  keyId: string | undefined,
  context: ErrorContext,
): Promise<(PublicKey | undefined)[]> {
  const accepted: PublicKey[] = [];
  let refusal: string | undefined;
  for (const key of candidates) {
    if (key?.certificate === undefined) continue;
    const problem = await trust.problem(key.certificate);
    if (problem === undefined) accepted.push(key);
    else refusal ??= `the partner's certificate ${key.certificate.serialNumber}: ${problem}`;
  }
  if (accepted.length === 0) {
    throw verifyFailed(
      refusal ?? "no verifying key is a trusted certificate",
      keyId === undefined ? context : { ...context, keyId },
      "Check keys.trust (anchors, intermediates, serial, subject) and that the partner's certificate in keys.verifying is current.",
    );
  }
  return accepted;
}
