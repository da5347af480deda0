import type { PrivateKey, PublicKey } from "./keys/loaded-keys.ts";
import { type RsaKeyWrapPadding, rsaUnwrapKey, rsaWrapKey } from "./rsa-key-wrap.ts";
import { createSm2Decryptor, randomContentKey, sm2Encrypt } from "./sm2.ts";

/**
 * Content-key wrapping: RSA-OAEP (`rsa-oaep-sha256-mgf1sha1`: SHA-256 with MGF1-SHA-1, Java's
 * default), RSA PKCS#1 v1.5, SM2 ciphertext order C1C3C2 or C1C2C3.
 */
export type KeyWrapName =
  | "rsa-oaep-sha1"
  | "rsa-oaep-sha256"
  | "rsa-oaep-sha256-mgf1sha1"
  | "rsa-pkcs1"
  | "sm2-c1c3c2"
  | "sm2-c1c2c3";

/**
 * Wraps per-message content keys for the peer and unwraps the peer's. Unwrapping never rejects on
 * a bad wrapped key: it resolves to a key that then fails the content decryption, so every
 * tampering ends in the same `CRYPTO_DECRYPT_FAILED` (no padding oracle, see pkcs1-unwrap.ts).
 * It is asynchronous so that RSA-OAEP's private-key operation can keep off the event loop.
 */
export interface KeyWrapper {
  wrap(contentKey: Buffer): Buffer;
  unwrap(wrapped: Buffer, expectedLength: number): Promise<Buffer>;
}

const rsaPaddings: Record<Exclude<KeyWrapName, `sm2-${string}`>, RsaKeyWrapPadding> = {
  "rsa-oaep-sha1": "oaep-sha1",
  "rsa-oaep-sha256": "oaep-sha256",
  "rsa-oaep-sha256-mgf1sha1": "oaep-sha256-mgf1sha1",
  "rsa-pkcs1": "pkcs1",
};

export function createKeyWrapper(
  name: KeyWrapName,
  encryptionKey: PublicKey,
  decryptionKey: PrivateKey,
  sm2PointPrefix: boolean,
  /** RSA-OAEP unwrapping on libuv's thread pool (see rsaUnwrapKey). Default true. */
  threadPool = true,
): KeyWrapper {
  if (name === "sm2-c1c3c2" || name === "sm2-c1c2c3") {
    if (encryptionKey.kind !== "sm2-public" || decryptionKey.kind !== "sm2-private") {
      throw new TypeError("SM2 key wrapping needs SM2 keys");
    }
    const order = name === "sm2-c1c3c2" ? "c1c3c2" : "c1c2c3";
    const decrypt = createSm2Decryptor(decryptionKey);
    return {
      wrap: (key) => sm2Encrypt(key, encryptionKey, { order, pointPrefix: sm2PointPrefix }),
      unwrap: async (wrapped, expectedLength) => {
        // C1 (64 bytes, or 65 with the 04 prefix Bouncy Castle writes) + C3 (32) + C2: both
        // layouts are accepted, told apart by the length the content key must have.
        const pointPrefix = wrapped.length === 64 + 32 + expectedLength + 1 && wrapped[0] === 4;
        if (wrapped.length !== 64 + 32 + expectedLength + (pointPrefix ? 1 : 0))
          return randomContentKey(expectedLength);
        return decrypt(wrapped, { order, pointPrefix }) ?? randomContentKey(expectedLength);
      },
    };
  }
  if (encryptionKey.kind !== "public")
    throw new TypeError("RSA key wrapping needs an RSA public key");
  if (decryptionKey.kind !== "private")
    throw new TypeError("RSA key unwrapping needs an RSA private key");
  const padding = rsaPaddings[name];
  return {
    wrap: (key) => rsaWrapKey(key, encryptionKey.key, padding),
    unwrap: (wrapped, expectedLength) =>
      rsaUnwrapKey(wrapped, decryptionKey.key, padding, expectedLength, threadPool),
  };
}
