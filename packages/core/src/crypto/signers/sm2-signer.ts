import { sm2 } from "sm-crypto-v2";
import { Redacted } from "../../redacted.ts";
import type { PrivateKey } from "../keys/loaded-keys.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

/** The SM2 user ID GM/T 0009 fixes as default, used when the partner does not name one. */
export const defaultSm2UserId = "1234567812345678";

/**
 * SM2 signatures with SM3 over Z(userId, public key) || message (GM/T 0003.2, GM/T 0009).
 * node:crypto's OpenSSL cannot take an SM2 user ID, so this uses sm-crypto-v2 (pure JS on
 * noble-curves, ~20x faster than sm-crypto and tested against it in both directions). The
 * signature is r||s (64 bytes, `raw`) or ASN.1 DER, as the partner expects.
 */
export function createSm2Scheme(
  signingKey: PrivateKey | undefined,
  userId: string,
  encoding: "raw" | "der",
): SignatureScheme {
  const der = encoding === "der";
  const signer = signingKey?.kind === "sm2-private" ? signingKey : undefined;
  return {
    symmetric: false,
    async sign(data) {
      if (signer === undefined) throw new TypeError("sm2-sm3 needs an SM2 keys.signing");
      const hex = sm2.doSignature(data, Redacted.reveal(signer.privateHex), {
        hash: true,
        der,
        userId,
        publicKey: signer.publicHex,
      });
      return Buffer.from(hex, "hex");
    },
    async verify(data, signature, publicKey) {
      if (publicKey?.kind !== "sm2-public") return false;
      if (!der && signature.length !== 64) return false;
      try {
        return sm2.doVerifySignature(
          data,
          signature.toString("hex"),
          publicKey.point as Parameters<typeof sm2.doVerifySignature>[2],
          {
            hash: true,
            der,
            userId,
          },
        );
      } catch {
        return false;
      }
    },
  };
}
