import { constants, type KeyObject, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";
import { unwrapPkcs1v15 } from "./pkcs1-unwrap.ts";

/** RSA paddings partners wrap content keys with: OAEP (SHA-1 or SHA-256) or PKCS#1 v1.5. */
export type RsaKeyWrapPadding = "oaep-sha1" | "oaep-sha256" | "pkcs1";

/** A content key encrypted for the peer's RSA public key. */
export function rsaWrapKey(
  contentKey: Buffer,
  publicKey: KeyObject,
  padding: RsaKeyWrapPadding,
): Buffer {
  if (padding === "pkcs1") {
    // Encryption with PKCS#1 v1.5 padding is still allowed by Node; only decryption is not.
    return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, contentKey);
  }
  const oaepHash = padding === "oaep-sha1" ? "sha1" : "sha256";
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
    contentKey,
  );
}

/**
 * The content key the peer wrapped, of `expectedLength` bytes (16 or 32). Never throws on a bad
 * wrapped key: it returns a random key of that length instead (implicit rejection), so the
 * failure surfaces as the content decryption's tag or padding error, like any tampering, and
 * no padding oracle exists. PKCS#1 v1.5 works on Node 20, which refuses that padding for
 * private decryption (see pkcs1-unwrap.ts).
 */
export function rsaUnwrapKey(
  wrapped: Buffer,
  privateKey: KeyObject,
  padding: RsaKeyWrapPadding,
  expectedLength: number,
): Buffer {
  if (padding === "pkcs1") return unwrapPkcs1v15(privateKey, wrapped, expectedLength);
  const oaepHash = padding === "oaep-sha1" ? "sha1" : "sha256";
  try {
    const key = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
      wrapped,
    );
    return key.length === expectedLength ? key : randomBytes(expectedLength);
  } catch {
    return randomBytes(expectedLength);
  }
}
