import { constants, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";
import { sm2 } from "sm-crypto-v2";
import { Redacted } from "../redacted.ts";
import type { PrivateKey, PublicKey } from "./keys/loaded-keys.ts";
import { unwrapPkcs1v15 } from "./pkcs1-unwrap.ts";
import { createSm2Decrypt, opensslHasSm2 } from "./sm2-decrypt.ts";

/** Content-key wrapping: RSA-OAEP, RSA PKCS#1 v1.5, SM2 ciphertext order C1C3C2 or C1C2C3. */
export type KeyWrapName =
  | "rsa-oaep-sha1"
  | "rsa-oaep-sha256"
  | "rsa-pkcs1"
  | "sm2-c1c3c2"
  | "sm2-c1c2c3";

/**
 * Wraps per-message content keys for the peer and unwraps the peer's. Unwrapping never throws on
 * a bad wrapped key: it returns a key that then fails the content decryption, so every tampering
 * ends in the same `CRYPTO_DECRYPT_FAILED` (no padding oracle, see pkcs1-unwrap.ts).
 */
export interface KeyWrapper {
  wrap(contentKey: Buffer): Buffer;
  unwrap(wrapped: Buffer, expectedLength: number): Buffer;
}

export function createKeyWrapper(
  name: KeyWrapName,
  encryptionKey: PublicKey,
  decryptionKey: PrivateKey,
  sm2PointPrefix: boolean,
): KeyWrapper {
  switch (name) {
    case "rsa-oaep-sha1":
    case "rsa-oaep-sha256": {
      const oaepHash = name === "rsa-oaep-sha1" ? "sha1" : "sha256";
      const pub = rsaPublic(encryptionKey);
      const priv = rsaPrivate(decryptionKey);
      return {
        wrap: (key) =>
          publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, key),
        unwrap: (wrapped, expectedLength) => {
          try {
            const key = privateDecrypt(
              { key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
              wrapped,
            );
            return key.length === expectedLength ? key : randomKey(expectedLength);
          } catch {
            return randomKey(expectedLength);
          }
        },
      };
    }
    case "rsa-pkcs1": {
      const pub = rsaPublic(encryptionKey);
      const priv = rsaPrivate(decryptionKey);
      return {
        // Encryption with PKCS#1 v1.5 padding is still allowed by Node; only decryption is not.
        wrap: (key) => publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, key),
        unwrap: (wrapped, expectedLength) => unwrapPkcs1v15(priv, wrapped, expectedLength),
      };
    }
    case "sm2-c1c3c2":
    case "sm2-c1c2c3": {
      // sm-crypto's cipherMode: 1 = C1C3C2 (GM/T 0003-2012), 0 = C1C2C3 (the 2010 draft).
      const mode = name === "sm2-c1c3c2" ? 1 : 0;
      if (encryptionKey.kind !== "sm2-public" || decryptionKey.kind !== "sm2-private") {
        throw new TypeError("SM2 key wrapping needs SM2 keys");
      }
      const point = encryptionKey.point as Parameters<typeof sm2.doEncrypt>[1];
      const privateHex = decryptionKey.privateHex;
      const decrypt = opensslHasSm2 ? createSm2Decrypt(Redacted.reveal(privateHex)) : undefined;
      return {
        wrap: (key) => {
          const hex = sm2.doEncrypt(key, point, mode);
          return Buffer.from(sm2PointPrefix ? `04${hex}` : hex, "hex");
        },
        unwrap: (wrapped, expectedLength) => {
          // C1 (64 bytes, or 65 with the 04 prefix Bouncy Castle writes) + C3 (32) + C2.
          const body =
            wrapped.length === 64 + 32 + expectedLength + 1 && wrapped[0] === 4
              ? wrapped.subarray(1)
              : wrapped;
          if (body.length !== 64 + 32 + expectedLength) return randomKey(expectedLength);
          if (decrypt !== undefined) {
            const c1 = body.subarray(0, 64);
            const [c3, c2] =
              mode === 1
                ? [body.subarray(64, 96), body.subarray(96)]
                : [body.subarray(64 + expectedLength), body.subarray(64, 64 + expectedLength)];
            return decrypt(c1, c3, c2) ?? randomKey(expectedLength);
          }
          try {
            const key = sm2.doDecrypt(body.toString("hex"), Redacted.reveal(privateHex), mode, {
              output: "array",
            });
            return key.length === expectedLength ? Buffer.from(key) : randomKey(expectedLength);
          } catch {
            return randomKey(expectedLength);
          }
        },
      };
    }
  }
}

function randomKey(length: number): Buffer {
  return randomBytes(length);
}

function rsaPublic(key: PublicKey) {
  if (key.kind !== "public") throw new TypeError("RSA key wrapping needs an RSA public key");
  return key.key;
}

function rsaPrivate(key: PrivateKey) {
  if (key.kind !== "private") throw new TypeError("RSA key unwrapping needs an RSA private key");
  return key.key;
}
