import { createECDH, createHash, getCurves, timingSafeEqual } from "node:crypto";

/**
 * SM2 public-key decryption (GM/T 0003.4) with the scalar multiplication done by OpenSSL.
 *
 * Why: sm-crypto-v2 needs ~30 ms for d·C1 (an arbitrary point, so nothing can be precomputed),
 * which caps a channel that wraps every answer's key with SM2 at ~30 messages/s per core.
 * OpenSSL's ECDH on the SM2 curve computes the same product in C but returns only x2; y2 is one of
 * the two square roots of x2³ + a·x2 + b (p ≡ 3 mod 4, so a root is a power), and the right one is
 * the root for which C3 = SM3(x2 ‖ M ‖ y2) matches — the check decryption does anyway. OpenSSL
 * also rejects a C1 that is not on the curve (invalid-curve attacks).
 *
 * Returns undefined for any malformed or unauthentic ciphertext; the caller turns that into a
 * random key (implicit rejection, see key-wrap.ts).
 */
export type Sm2Decrypt = (c1: Buffer, c3: Buffer, c2: Buffer) => Buffer | undefined;

const p = BigInt("0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF");
const a = p - 3n;
const b = BigInt("0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
const sqrtExponent = (p + 1n) / 4n;

/** Whether this Node's OpenSSL has the SM2 curve (it does on Node 20's OpenSSL 3). */
export const opensslHasSm2 = getCurves().includes("SM2");

export function createSm2Decrypt(privateHex: string): Sm2Decrypt {
  const ecdh = createECDH("SM2");
  ecdh.setPrivateKey(Buffer.from(privateHex, "hex")); // once: this derives the public key
  return (c1, c3, c2) => {
    let x2: Buffer;
    try {
      x2 = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), c1]));
    } catch {
      return undefined;
    }
    const x = toBigInt(x2);
    const root = modPow((((x * x) % p) * x + a * x + b) % p, sqrtExponent, p);
    let found: Buffer | undefined;
    // Both candidates are always tried, so timing does not depend on which one matches.
    for (const y of [root, p - root]) {
      const y2 = toBytes(y);
      const t = kdf(x2, y2, c2.length);
      if (t.every((byte) => byte === 0)) continue;
      const m = Buffer.alloc(c2.length);
      for (let i = 0; i < c2.length; i++) m[i] = (c2[i] ?? 0) ^ (t[i] ?? 0);
      const check = createHash("sm3").update(x2).update(m).update(y2).digest();
      if (check.length === c3.length && timingSafeEqual(check, c3) && found === undefined)
        found = m;
    }
    return found;
  };
}

/** GM/T 0003.4 KDF with SM3: SM3(Z ‖ ct) for ct = 1, 2, … truncated to `length` bytes. */
function kdf(x2: Buffer, y2: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let ct = 1; blocks.length * 32 < length; ct++) {
    counter.writeUInt32BE(ct);
    blocks.push(createHash("sm3").update(x2).update(y2).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b2 = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b2) % modulus;
    b2 = (b2 * b2) % modulus;
    e >>= 1n;
  }
  return result;
}

function toBigInt(bytes: Buffer): bigint {
  return BigInt(`0x${bytes.toString("hex")}`);
}

function toBytes(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(64, "0"), "hex");
}
