import {
  constants,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  randomBytes,
} from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  unwrapOaepSha256Mgf1Sha1,
  wrapOaepSha256Mgf1Sha1,
} from "../../src/crypto/oaep-sha256-mgf1-sha1.ts";
import { rsaUnwrapKey, rsaWrapKey } from "../../src/crypto/rsa-key-wrap.ts";
import { partner, platform } from "../support/crypto/test-keys.ts";
import { jdkOaepSha256Mgf1Sha1 } from "./fixtures/jdk-oaep-sha256-mgf1sha1.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");

/** node-forge set up as Java's default `OAEPWithSHA-256AndMGF1Padding`. */
const javaDefault = () => ({
  md: forge.md.sha256.create(),
  mgf1: { md: forge.md.sha1.create() },
});

describe("RSA-OAEP with SHA-256 and MGF1-SHA-1 (Java's default OAEPWithSHA-256AndMGF1Padding)", () => {
  it("round trip: unwraps what it wraps, 16 and 32 bytes, fresh randomness each time", () => {
    for (const length of [16, 32]) {
      const key = randomBytes(length);
      const first = wrapOaepSha256Mgf1Sha1(key, platform.publicKey);
      const second = wrapOaepSha256Mgf1Sha1(key, platform.publicKey);
      expect(first.length).toBe(256);
      expect(first.equals(second)).toBe(false);
      for (const wrapped of [first, second])
        expect(unwrapOaepSha256Mgf1Sha1(platform.privateKey, wrapped, length).equals(key)).toBe(
          true,
        );
    }
  });

  it("node-forge with md sha256 and mgf1 sha1 wraps what capflow unwraps, and unwraps what capflow wraps", async () => {
    const forgePublic = forge.pki.publicKeyFromPem(platform.publicPem);
    const forgePrivate = forge.pki.privateKeyFromPem(platform.privatePem);
    for (const length of [16, 32]) {
      const key = randomBytes(length);
      const byForge = Buffer.from(
        forgePublic.encrypt(key.toString("binary"), "RSA-OAEP", javaDefault()),
        "binary",
      );
      expect(
        (await rsaUnwrapKey(byForge, platform.privateKey, "oaep-sha256-mgf1sha1", length)).equals(
          key,
        ),
      ).toBe(true);
      const byCapflow = rsaWrapKey(key, platform.publicKey, "oaep-sha256-mgf1sha1");
      const unwrappedByForge = forgePrivate.decrypt(
        byCapflow.toString("binary"),
        "RSA-OAEP",
        javaDefault(),
      );
      expect(Buffer.from(unwrappedByForge, "binary").equals(key)).toBe(true);
      // The same hashes in MGF1 as in the label, as rsa-oaep-sha256 and Bouncy Castle do, fail.
      expect(() =>
        forgePrivate.decrypt(byCapflow.toString("binary"), "RSA-OAEP", {
          md: forge.md.sha256.create(),
          mgf1: { md: forge.md.sha256.create() },
        }),
      ).toThrow();
    }
  });

  describe("the JDK's vectors (SunJCE, RSA/ECB/OAEPWithSHA-256AndMGF1Padding)", () => {
    const privateKey = createPrivateKey(jdkOaepSha256Mgf1Sha1.privateKeyPem);
    const vectors = jdkOaepSha256Mgf1Sha1.vectors.map((v) => ({
      contentKey: Buffer.from(v.contentKey, "hex"),
      wrapped: Buffer.from(v.wrapped, "base64"),
    }));

    it("are unwrapped to the content keys the JDK wrapped", async () => {
      expect(vectors.map((v) => v.contentKey.length).sort()).toEqual([16, 16, 32, 32]);
      for (const { contentKey, wrapped } of vectors) {
        const unwrapped = await rsaUnwrapKey(
          wrapped,
          privateKey,
          "oaep-sha256-mgf1sha1",
          contentKey.length,
        );
        expect(unwrapped.toString("hex")).toBe(contentKey.toString("hex"));
      }
    });

    it("are not unwrapped by rsa-oaep-sha256 (MGF1 with SHA-256), which is why the variant exists", async () => {
      for (const { contentKey, wrapped } of vectors) {
        const unwrapped = await rsaUnwrapKey(wrapped, privateKey, "oaep-sha256", contentKey.length);
        expect(unwrapped.length).toBe(contentKey.length);
        expect(unwrapped.equals(contentKey)).toBe(false);
        // Node's own OAEP with SHA-256 (one hash for both) rejects them outright.
        expect(() =>
          privateDecrypt(
            { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
            wrapped,
          ),
        ).toThrow();
      }
    });

    it("round trip under the JDK's key, with its public half", () => {
      const publicKey = createPublicKey(privateKey);
      for (const { contentKey } of vectors) {
        const wrapped = wrapOaepSha256Mgf1Sha1(contentKey, publicKey);
        expect(unwrapOaepSha256Mgf1Sha1(privateKey, wrapped, contentKey.length)).toEqual(
          contentKey,
        );
      }
    });
  });

  it("resolves a tampered, truncated, foreign or wrong-length wrapped key to a random key of the expected length", async () => {
    const key = randomBytes(32);
    const wrapped = wrapOaepSha256Mgf1Sha1(key, platform.publicKey);
    const bad: Array<[string, Buffer]> = [
      ...[0, 1, 20, 100, 255].map((at): [string, Buffer] => {
        const flipped = Buffer.from(wrapped);
        flipped[at] = (flipped[at] ?? 0) ^ 1;
        return [`bit flipped at ${at}`, flipped];
      }),
      ["truncated", wrapped.subarray(1)],
      ["extended", Buffer.concat([wrapped, Buffer.alloc(1)])],
      ["empty", Buffer.alloc(0)],
      ["larger than the modulus", Buffer.alloc(wrapped.length, 0xff)],
      ["for another key", wrapOaepSha256Mgf1Sha1(key, partner.publicKey)],
      ["with rsa-oaep-sha256", rsaWrapKey(key, platform.publicKey, "oaep-sha256")],
      ["with rsa-oaep-sha1", rsaWrapKey(key, platform.publicKey, "oaep-sha1")],
      ["with rsa-pkcs1", rsaWrapKey(key, platform.publicKey, "pkcs1")],
      ["a 16-byte key", wrapOaepSha256Mgf1Sha1(key.subarray(0, 16), platform.publicKey)],
      [
        "a 33-byte key",
        wrapOaepSha256Mgf1Sha1(Buffer.concat([key, key]).subarray(0, 33), platform.publicKey),
      ],
      ["a 31-byte key", wrapOaepSha256Mgf1Sha1(key.subarray(0, 31), platform.publicKey)],
    ];
    for (const [what, wrappedKey] of bad) {
      const first = await rsaUnwrapKey(wrappedKey, platform.privateKey, "oaep-sha256-mgf1sha1", 32);
      const second = await rsaUnwrapKey(
        wrappedKey,
        platform.privateKey,
        "oaep-sha256-mgf1sha1",
        32,
      );
      expect(first.length, what).toBe(32);
      expect(first.equals(key), what).toBe(false);
      expect(first.equals(second), what).toBe(false);
    }
  });
});
