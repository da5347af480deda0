import {
  constants,
  createHash,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

/**
 * RSA-OAEP (RFC 8017 §7.1) with SHA-256 as the label hash and SHA-1 in MGF1: what Java's
 * `Cipher.getInstance("RSA/ECB/OAEPWithSHA-256AndMGF1Padding")` does with the default SunJCE
 * provider and no OAEPParameterSpec (Bouncy Castle's provider uses SHA-256 in MGF1 instead, which
 * is plain `rsa-oaep-sha256`).
 *
 * Why hand-written: Node's `publicEncrypt`/`privateDecrypt` take one `oaepHash` for both the
 * label hash and MGF1, and WebCrypto's RSA-OAEP likewise, so neither can produce or read this
 * combination. Only the padding is ours; the RSA operation is OpenSSL's (`RSA_NO_PADDING`,
 * blinded constant-time modular exponentiation).
 *
 * Unwrapping keeps the implicit rejection of pkcs1-unwrap.ts: the checks are accumulated into one
 * flag without early returns, and a bad wrapped key yields a random key of the expected length,
 * so the failure surfaces as the content decryption's `CRYPTO_DECRYPT_FAILED` like any tampering.
 * It is synchronous: Node 20 has no off-loop raw RSA private operation (WebCrypto has no raw RSA,
 * and the asynchronous `crypto.sign` always applies a digest, which `RSA_NO_PADDING` refuses).
 */

const labelHash = "sha256";
const hLen = 32;
const mgfHash = "sha1";
/** SHA-256 of the empty label, the only label Java's default PSource and this module use. */
const lHash = createHash(labelHash).digest();

export function wrapOaepSha256Mgf1Sha1(contentKey: Buffer, publicKey: KeyObject): Buffer {
  const k = modulusBytes(publicKey);
  if (contentKey.length > k - 2 * hLen - 2)
    throw new RangeError("content key too long for RSA-OAEP");
  // DB = lHash || PS (zeros) || 0x01 || M, EM = 0x00 || maskedSeed || maskedDB.
  const db = Buffer.alloc(k - hLen - 1);
  lHash.copy(db, 0);
  db[db.length - contentKey.length - 1] = 1;
  contentKey.copy(db, db.length - contentKey.length);
  const seed = randomBytes(hLen);
  const maskedDb = xor(db, mgf1(seed, db.length));
  const maskedSeed = xor(seed, mgf1(maskedDb, hLen));
  const em = Buffer.concat([Buffer.alloc(1), maskedSeed, maskedDb]);
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);
}

/**
 * The content key in `wrapped`, of `expectedLength` bytes, or a random key of that length when
 * `wrapped` is not a valid encoding of such a key under `privateKey` (implicit rejection).
 */
export function unwrapOaepSha256Mgf1Sha1(
  privateKey: KeyObject,
  wrapped: Buffer,
  expectedLength: number,
): Buffer {
  const fallback = randomBytes(expectedLength);
  const k = modulusBytes(privateKey);
  // Lengths are public: an early return on them tells an attacker nothing.
  if (wrapped.length !== k || expectedLength > k - 2 * hLen - 2) return fallback;
  let em: Buffer;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, wrapped);
  } catch {
    // Only a ciphertext >= modulus gets here: public knowledge, no oracle.
    return fallback;
  }
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seed = xor(maskedSeed, mgf1(maskedDb, hLen));
  const db = xor(maskedDb, mgf1(seed, maskedDb.length));
  // With the key length known, a valid DB is exactly lHash || zeros || 0x01 || M with |M| =
  // expectedLength: one comparison of fixed length replaces the search for the 0x01 separator.
  const expectedPrefix = Buffer.alloc(db.length - expectedLength);
  lHash.copy(expectedPrefix, 0);
  expectedPrefix[expectedPrefix.length - 1] = 1;
  let good = isZero(em[0] ?? 1);
  good &= Number(timingSafeEqual(db.subarray(0, expectedPrefix.length), expectedPrefix));
  // Select byte by byte between the decoded key and the random one, without branching on `good`.
  const mask = -good & 0xff;
  const out = Buffer.alloc(expectedLength);
  const start = expectedPrefix.length;
  for (let i = 0; i < expectedLength; i++) {
    out[i] = ((db[start + i] ?? 0) & mask) | ((fallback[i] ?? 0) & ~mask & 0xff);
  }
  return out;
}

/** MGF1 (RFC 8017 B.2.1) with SHA-1: SHA-1(seed || counter) for counter = 0, 1, … */
function mgf1(seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0; blocks.length * 20 < length; i++) {
    counter.writeUInt32BE(i);
    blocks.push(createHash(mgfHash).update(seed).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

function modulusBytes(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/** 1 if x is 0, else 0, for 0 <= x < 2^31, without a branch. */
function isZero(x: number): number {
  return (((x | -x) >>> 31) ^ 1) & 1;
}
