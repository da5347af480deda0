import { constants, type KeyObject, privateDecrypt, randomBytes } from "node:crypto";

/**
 * Unwraps a content key wrapped with RSA PKCS#1 v1.5 (Java's `RSA/ECB/PKCS1Padding`), which
 * Node 20 refuses to do since the fix for CVE-2023-46809 (the Marvin attack) unless started with
 * `--security-revert`, which we never ask of users.
 *
 * Why this is safe enough to do ourselves: the danger of PKCS#1 v1.5 decryption is a padding
 * oracle (Bleichenbacher): an attacker learns whether padding was valid from a distinct error or
 * timing. We (1) do the raw RSA operation in OpenSSL (`RSA_NO_PADDING`, constant-time blinded
 * modular exponentiation), (2) check the padding with branch-free arithmetic over every byte, and
 * (3) apply implicit rejection as OpenSSL 3.2+ and RFC 8017's successor drafts do: on bad padding
 * we return a random key of the expected length instead of failing, so the failure surfaces later
 * as the same AEAD-tag / CBC-padding / signature error a tampered ciphertext gives. The caller
 * always knows the expected key length (16 or 32 bytes), which must also match exactly.
 *
 * JavaScript gives no hard constant-time guarantee; the residual timing differences are the JIT's,
 * not data-dependent branches of ours, and the error an attacker sees is uniform.
 */
export function unwrapPkcs1v15(
  privateKey: KeyObject,
  wrapped: Buffer,
  expectedLength: number,
): Buffer {
  const fallback = randomBytes(expectedLength);
  const modulusBytes = Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (wrapped.length !== modulusBytes) return fallback;
  let em: Buffer;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, wrapped);
  } catch {
    // Only a ciphertext >= modulus gets here: public knowledge, no oracle.
    return fallback;
  }
  const k = em.length;
  // good = 1 iff EM = 0x00 || 0x02 || PS (>= 8 non-zero bytes) || 0x00 || M with |M| = expectedLength.
  let good = isZero(em[0] ?? 1) & isZero((em[1] ?? 0) ^ 2);
  let separator = 0; // index of the first zero byte after the header, 0 while not found
  let found = 0;
  for (let i = 2; i < k; i++) {
    const zero = isZero(em[i] ?? 1);
    const first = zero & (1 - found);
    separator |= -first & i;
    found |= zero;
  }
  good &= found;
  good &= ((9 - separator) >>> 31) & 1; // PS at least 8 bytes: separator index >= 10
  good &= isZero((k - separator - 1) ^ expectedLength);
  // Select byte by byte between the decrypted key and the random one, without branching on `good`.
  const mask = -good & 0xff;
  const out = Buffer.alloc(expectedLength);
  const start = k - expectedLength;
  for (let i = 0; i < expectedLength; i++) {
    out[i] = ((em[start + i] ?? 0) & mask) | ((fallback[i] ?? 0) & ~mask & 0xff);
  }
  return out;
}

/** 1 if x is 0, else 0, for 0 <= x < 2^31, without a branch. */
function isZero(x: number): number {
  return (((x | -x) >>> 31) ^ 1) & 1;
}
