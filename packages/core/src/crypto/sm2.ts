import { randomBytes } from "node:crypto";
import { sm2 } from "sm-crypto-v2";
import { Redacted } from "../redacted.ts";
import type { KeyFormat } from "./keys/key-spec.ts";
import type { Sm2PrivateKey, Sm2PublicKey } from "./keys/loaded-keys.ts";
import { readSm2PrivateHex, readSm2Public } from "./keys/sm2-key-forms.ts";
import { createSm2Decrypt, opensslHasSm2, type Sm2Decrypt } from "./sm2-decrypt.ts";

/**
 * SM2 (GM/T 0003) as a building block: signatures with a user ID (SM3withSM2 over
 * Z(userId, public key) ‖ message) and public-key encryption in either ciphertext order. Signing
 * and encryption use sm-crypto-v2 (node:crypto cannot pass an SM2 user ID); decryption lets
 * OpenSSL do the point multiplication (see sm2-decrypt.ts). Differential-tested against sm-crypto.
 */

/** The SM2 user ID GM/T 0009 fixes as default, used when the partner does not name one. */
export const defaultSm2UserId = "1234567812345678";

export interface Sm2SignatureOptions {
  /** Default `1234567812345678`. */
  userId?: string;
  /** `raw` r ‖ s, 64 bytes (default), or ASN.1 `der`. */
  encoding?: "raw" | "der";
}

export interface Sm2EncryptionOptions {
  /** `c1c3c2` (GM/T 0003-2012, default) or `c1c2c3` (the 2010 draft, older banks). */
  order?: "c1c3c2" | "c1c2c3";
  /** C1 written with the `04` point prefix (Bouncy Castle) or without it (sm-crypto, default). */
  pointPrefix?: boolean;
}

/** An SM2 private key from 64 hex digits, base64, or a PKCS#8/SEC1 PEM or DER. */
export function readSm2PrivateKey(text: string | Buffer, format?: KeyFormat): Sm2PrivateKey {
  const hex = readSm2PrivateHex(Buffer.from(text), format);
  return {
    kind: "sm2-private",
    privateHex: Redacted.of(hex),
    publicHex: sm2.getPublicKeyFromPrivateKey(hex),
  };
}

/** An SM2 public key from hex (`04 ‖ x ‖ y`), base64, an SPKI PEM/DER or an X.509 certificate. */
export function readSm2PublicKey(text: string | Buffer, format?: KeyFormat): Sm2PublicKey {
  const { publicHex, certificate } = readSm2Public(Buffer.from(text), format);
  if (!sm2.verifyPublicKey(publicHex)) throw new Error("not a point of the SM2 curve");
  return {
    kind: "sm2-public",
    publicHex,
    point: sm2.precomputePublicKey(publicHex),
    ...(certificate === undefined ? {} : { certificate }),
  };
}

export function sm2Sign(
  data: Buffer | string,
  key: Sm2PrivateKey,
  options: Sm2SignatureOptions = {},
): Buffer {
  const hex = sm2.doSignature(data, Redacted.reveal(key.privateHex), {
    hash: true,
    der: options.encoding === "der",
    userId: options.userId ?? defaultSm2UserId,
    publicKey: key.publicHex,
  });
  return Buffer.from(hex, "hex");
}

/** False for a wrong or malformed signature; never throws. */
export function sm2Verify(
  data: Buffer | string,
  signature: Buffer,
  key: Sm2PublicKey,
  options: Sm2SignatureOptions = {},
): boolean {
  const der = options.encoding === "der";
  if (!der && signature.length !== 64) return false;
  try {
    return sm2.doVerifySignature(
      data,
      signature.toString("hex"),
      key.point as Parameters<typeof sm2.doVerifySignature>[2],
      { hash: true, der, userId: options.userId ?? defaultSm2UserId },
    );
  } catch {
    return false;
  }
}

/** C1 ‖ C3 ‖ C2 (or C1 ‖ C2 ‖ C3) of `plaintext` for `key`. */
export function sm2Encrypt(
  plaintext: Buffer,
  key: Sm2PublicKey,
  options: Sm2EncryptionOptions = {},
): Buffer {
  const mode = options.order === "c1c2c3" ? 0 : 1;
  const hex = sm2.doEncrypt(plaintext, key.point as Parameters<typeof sm2.doEncrypt>[1], mode);
  return Buffer.from(options.pointPrefix === true ? `04${hex}` : hex, "hex");
}

/** Decrypts for one private key, reusing OpenSSL's key set-up across calls. */
export function createSm2Decryptor(
  key: Sm2PrivateKey,
): (ciphertext: Buffer, options?: Sm2EncryptionOptions) => Buffer | undefined {
  const privateHex = Redacted.reveal(key.privateHex);
  const decrypt: Sm2Decrypt | undefined = opensslHasSm2 ? createSm2Decrypt(privateHex) : undefined;
  return (ciphertext, options = {}) => {
    const body = options.pointPrefix === true ? ciphertext.subarray(1) : ciphertext;
    if ((options.pointPrefix === true && ciphertext[0] !== 4) || body.length <= 96)
      return undefined;
    const length = body.length - 96;
    const c1 = body.subarray(0, 64);
    const [c3, c2] =
      options.order === "c1c2c3"
        ? [body.subarray(64 + length), body.subarray(64, 64 + length)]
        : [body.subarray(64, 96), body.subarray(96)];
    if (decrypt !== undefined) return decrypt(c1, c3, c2);
    try {
      const plain = sm2.doDecrypt(
        body.toString("hex"),
        privateHex,
        options.order === "c1c2c3" ? 0 : 1,
        {
          output: "array",
        },
      );
      return plain.length === length ? Buffer.from(plain) : undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * The plaintext of an SM2 ciphertext, or undefined when it is malformed or not for this key (the
 * C3 check failed). Undefined rather than an error, so a caller unwrapping keys can turn every
 * failure into the same later one (see key-wrap.ts).
 */
export function sm2Decrypt(
  ciphertext: Buffer,
  key: Sm2PrivateKey,
  options: Sm2EncryptionOptions = {},
): Buffer | undefined {
  return createSm2Decryptor(key)(ciphertext, options);
}

/** A random key when unwrapping fails, so the failure shows up where any tampering does. */
export function randomContentKey(length: number): Buffer {
  return randomBytes(length);
}
