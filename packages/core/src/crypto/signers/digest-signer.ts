import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Redacted } from "../../redacted.ts";
import type { SecretKey } from "../keys/loaded-keys.ts";
import type { SignatureScheme } from "./signature-scheme.ts";

export type DigestAlgorithm = "md5" | "sha256" | "sm3";
export type HmacAlgorithm = "hmac-sha256" | "hmac-sm3";

/**
 * "Signatures" made with a shared secret: a digest of the canonical string with the key appended
 * (`…&key=SECRET`, WeChat Pay v2 MD5 and many gateways), or an HMAC (optionally also over the
 * appended key, as WeChat Pay v2 HMAC-SHA256 does). SM3 comes from OpenSSL (`sm3`). Comparison is
 * constant-time.
 */
export function createDigestScheme(
  algorithm: DigestAlgorithm | HmacAlgorithm,
  secret: SecretKey | undefined,
  appendKey: string | undefined,
): SignatureScheme {
  const suffix =
    appendKey === undefined || secret === undefined
      ? undefined
      : Redacted.of(Buffer.concat([Buffer.from(appendKey, "utf8"), Redacted.reveal(secret)]));
  const digest = (data: Buffer): Buffer => {
    if (algorithm === "hmac-sha256" || algorithm === "hmac-sm3") {
      if (secret === undefined) throw new TypeError(`${algorithm} needs keys.secret`);
      const h = createHmac(
        algorithm === "hmac-sha256" ? "sha256" : "sm3",
        Redacted.reveal(secret),
      ).update(data);
      if (suffix !== undefined) h.update(Redacted.reveal(suffix));
      return h.digest();
    }
    const h = createHash(algorithm).update(data);
    if (suffix !== undefined) h.update(Redacted.reveal(suffix));
    return h.digest();
  };
  return {
    symmetric: true,
    async sign(data) {
      return digest(data);
    },
    async verify(data, signature) {
      const expected = digest(data);
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    },
  };
}
