import type { ErrorContext } from "../../errors.ts";
import { configInvalid } from "../failures.ts";
import type { PrivateKey, PublicKey } from "./loaded-keys.ts";

/**
 * Refuses, when the handler is created, an RSA key marked for PSS signatures only (its algorithm
 * is id-RSASSA-PSS, `rsa-pss` in node:crypto) where it would sign or verify PKCS#1 v1.5 or wrap a
 * content key: OpenSSL refuses those operations with such a key, so every message would fail.
 */
export function refusePssOnlyKey(
  key: PrivateKey | PublicKey | undefined,
  use: string,
  pointer: string,
  context: ErrorContext,
): void {
  if (
    (key?.kind === "private" || key?.kind === "public") &&
    key.key.asymmetricKeyType === "rsa-pss"
  )
    throw configInvalid(
      `the key at ${pointer} is an RSA-PSS key (id-RSASSA-PSS), which can only make and check PSS signatures, not ${use}; give an RSA key (rsaEncryption) or use the rsa-pss-sha256 algorithm`,
      { ...context, pointer },
    );
}
