import { createRequire } from "node:module";
import { sm2 as fast } from "sm-crypto-v2";
import { describe, expect, it } from "vitest";
import { createKeyWrapper } from "../../src/crypto/key-wrap.ts";
import { createSm2Decrypt, opensslHasSm2 } from "../../src/crypto/sm2-decrypt.ts";
import { Redacted } from "../../src/redacted.ts";

// sm-crypto 0.5.8 is the reference implementation; sm-crypto-v2 is what the handler uses.
const reference = (
  createRequire(import.meta.url)("sm-crypto") as {
    sm2: {
      generateKeyPairHex(): { privateKey: string; publicKey: string };
      doSignature(msg: string, priv: string, o: Record<string, unknown>): string;
      doVerifySignature(msg: string, sig: string, pub: string, o: Record<string, unknown>): boolean;
      doEncrypt(msg: number[], pub: string, mode: number): string;
      doDecrypt(ct: string, priv: string, mode: number, o: { output: "array" }): number[];
    };
  }
).sm2;

const messages = ["", "message digest", '签名报文 {"amount":"12.50"}'];
const userIds = ["1234567812345678", "ALICE123@YAHOO.COM"];

describe("SM2: sm-crypto-v2 against the sm-crypto reference", () => {
  const pairs = [fast.generateKeyPairHex(), reference.generateKeyPairHex()];

  it.each(userIds)(
    "signatures made by either verify with the other (user ID %s)",
    (userId) => {
      for (const { privateKey, publicKey } of pairs) {
        for (const message of messages) {
          for (const der of [false, true]) {
            const byFast = fast.doSignature(message, privateKey, {
              hash: true,
              der,
              userId,
              publicKey,
            });
            const byRef = reference.doSignature(message, privateKey, {
              hash: true,
              der,
              userId,
              publicKey,
            });
            expect(
              reference.doVerifySignature(message, byFast, publicKey, { hash: true, der, userId }),
            ).toBe(true);
            expect(
              fast.doVerifySignature(message, byRef, publicKey, { hash: true, der, userId }),
            ).toBe(true);
            // And both reject the other's signature over a different message or user ID.
            expect(
              reference.doVerifySignature(`${message}!`, byFast, publicKey, {
                hash: true,
                der,
                userId,
              }),
            ).toBe(false);
            expect(
              fast.doVerifySignature(message, byRef, publicKey, {
                hash: true,
                der,
                userId: "other",
              }),
            ).toBe(false);
          }
        }
      }
    },
    60_000,
  );

  it.each([1, 0])("encryption by either decrypts with the other (cipherMode %i)", (mode) => {
    for (const { privateKey, publicKey } of pairs) {
      const key = [...Buffer.from("0123456789abcdef")];
      const byFast = fast.doEncrypt(Uint8Array.from(key), publicKey, mode);
      const byRef = reference.doEncrypt(key, publicKey, mode);
      expect(reference.doDecrypt(byFast, privateKey, mode, { output: "array" })).toEqual(key);
      expect([...fast.doDecrypt(byRef, privateKey, mode, { output: "array" })]).toEqual(key);
    }
  });

  it("the handler's SM2 key wrapper interoperates with sm-crypto, with and without the 04 prefix", async () => {
    const { privateKey, publicKey } = pairs[0] as { privateKey: string; publicKey: string };
    const pub = {
      kind: "sm2-public" as const,
      publicHex: publicKey,
      point: fast.precomputePublicKey(publicKey),
    };
    const priv = {
      kind: "sm2-private" as const,
      privateHex: Redacted.of(privateKey),
      publicHex: publicKey,
    };
    for (const [name, mode] of [
      ["sm2-c1c3c2", 1],
      ["sm2-c1c2c3", 0],
    ] as const) {
      for (const prefix of [false, true]) {
        const wrapper = createKeyWrapper(name, pub, priv, prefix);
        const contentKey = Buffer.from("fedcba9876543210");
        const wrapped = wrapper.wrap(contentKey);
        const hex = wrapped.toString("hex");
        expect(
          reference.doDecrypt(prefix ? hex.slice(2) : hex, privateKey, mode, { output: "array" }),
        ).toEqual([...contentKey]);
        const byRef = reference.doEncrypt([...contentKey], publicKey, mode);
        expect(
          (await wrapper.unwrap(Buffer.from(prefix ? `04${byRef}` : byRef, "hex"), 16)).equals(
            contentKey,
          ),
        ).toBe(true);
        // Tampered: a key of the right length that is not the content key (fails the cipher later).
        const bad = Buffer.from(wrapped);
        bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
        const out = await wrapper.unwrap(bad, 16);
        expect(out.length).toBe(16);
        expect(out.equals(contentKey)).toBe(false);
      }
    }
  });

  it("OpenSSL-backed SM2 decryption equals the reference on its ciphertexts (C1C3C2), any length", () => {
    expect(opensslHasSm2).toBe(true);
    const { privateKey, publicKey } = pairs[1] as { privateKey: string; publicKey: string };
    const decrypt = createSm2Decrypt(privateKey);
    // Not 1 byte: its KDF output is all zeros once in 256 encryptions, which GM/T 0003.4 makes a
    // decryption failure and the reference's encryption does not avoid (it should pick a new k).
    for (const length of [4, 16, 32, 33, 100]) {
      const message = [...Buffer.alloc(length, length)].map((v, i) => (v + i) & 0xff);
      const hex = reference.doEncrypt(message, publicKey, 1);
      const bytes = Buffer.from(hex, "hex");
      const out = decrypt(bytes.subarray(0, 64), bytes.subarray(64, 96), bytes.subarray(96));
      expect(out === undefined ? undefined : [...out]).toEqual(message);
      const tampered = Buffer.from(bytes);
      tampered[100 % tampered.length] = (tampered[100 % tampered.length] ?? 0) ^ 1;
      expect(
        decrypt(tampered.subarray(0, 64), tampered.subarray(64, 96), tampered.subarray(96)),
      ).toBeUndefined();
    }
    // A C1 that is not on the curve is rejected by OpenSSL.
    expect(decrypt(Buffer.alloc(64, 1), Buffer.alloc(32), Buffer.alloc(16))).toBeUndefined();
  });
});
