import type { PrivateKey } from "../keys/loaded-keys.ts";
import { sm2Sign, sm2Verify } from "../sm2.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

/**
 * SM2 signatures with SM3 over Z(userId, public key) || message (GM/T 0003.2, GM/T 0009), as a
 * scheme of the configurable handler; the primitives are in sm2.ts.
 */
export function createSm2Scheme(
  signingKey: PrivateKey | undefined,
  userId: string,
  encoding: "raw" | "der",
): SignatureScheme {
  const signer = signingKey?.kind === "sm2-private" ? signingKey : undefined;
  const options = { userId, encoding };
  return {
    symmetric: false,
    async sign(data) {
      if (signer === undefined) throw new TypeError("sm2-sm3 needs an SM2 keys.signing");
      return sm2Sign(data, signer, options);
    },
    async verify(data, signature, publicKey) {
      if (publicKey?.kind !== "sm2-public") return false;
      return sm2Verify(data, signature, publicKey, options);
    },
  };
}
