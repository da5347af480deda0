import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export type ContentCipherName =
  | "aes-128-cbc"
  | "aes-256-cbc"
  | "aes-128-ecb"
  | "aes-256-ecb"
  | "aes-128-gcm"
  | "aes-256-gcm"
  | "sm4-cbc"
  | "sm4-ecb";

/**
 * Symmetric content encryption on OpenSSL: AES-128/256 and SM4 (both in this Node's OpenSSL,
 * `sm4-cbc`/`sm4-ecb`), CBC and ECB with PKCS#7 padding, AES-GCM with a 12-byte nonce and a
 * 16-byte tag appended to the ciphertext (the layout Java's `AES/GCM/NoPadding` and WeChat Pay use).
 */
export interface ContentCipher {
  readonly name: ContentCipherName;
  readonly keyLength: number;
  /** IV/nonce length; 0 for ECB. */
  readonly ivLength: number;
  readonly aead: boolean;
  encrypt(key: Buffer, iv: Buffer, plaintext: Buffer, aad?: Buffer): Buffer;
  /** Throws (any error) when the tag or the padding is wrong; callers map it to one uniform error. */
  decrypt(key: Buffer, iv: Buffer, ciphertext: Buffer, aad?: Buffer): Buffer;
  randomIv(): Buffer;
}

const tagLength = 16;

export function createContentCipher(name: ContentCipherName): ContentCipher {
  const keyLength = name.startsWith("aes-256") ? 32 : 16;
  const mode = name.slice(-3);
  const ivLength = mode === "ecb" ? 0 : mode === "gcm" ? 12 : 16;
  const aead = mode === "gcm";
  // OpenSSL names: aes-128-cbc, aes-256-gcm, sm4-cbc, sm4-ecb; ECB takes a null IV.
  const iv = (value: Buffer) => (ivLength === 0 ? null : value);
  return {
    name,
    keyLength,
    ivLength,
    aead,
    randomIv: () => (ivLength === 0 ? Buffer.alloc(0) : randomBytes(ivLength)),
    encrypt(key, ivValue, plaintext, aad) {
      if (aead) {
        const cipher = createCipheriv(name as "aes-256-gcm", key, ivValue, {
          authTagLength: tagLength,
        });
        if (aad !== undefined) cipher.setAAD(aad);
        return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      }
      const cipher = createCipheriv(name, key, iv(ivValue));
      return Buffer.concat([cipher.update(plaintext), cipher.final()]);
    },
    decrypt(key, ivValue, ciphertext, aad) {
      if (aead) {
        if (ciphertext.length < tagLength) throw new Error("ciphertext shorter than its tag");
        const decipher = createDecipheriv(name as "aes-256-gcm", key, ivValue, {
          authTagLength: tagLength,
        });
        decipher.setAuthTag(ciphertext.subarray(ciphertext.length - tagLength));
        if (aad !== undefined) decipher.setAAD(aad);
        return Buffer.concat([
          decipher.update(ciphertext.subarray(0, ciphertext.length - tagLength)),
          decipher.final(),
        ]);
      }
      const decipher = createDecipheriv(name, key, iv(ivValue));
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    },
  };
}
