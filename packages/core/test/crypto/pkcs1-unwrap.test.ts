import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { unwrapPkcs1v15 } from "../../src/crypto/pkcs1-unwrap.ts";
import { platform, stranger } from "../support/crypto/test-keys.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");

describe("RSA PKCS#1 v1.5 key unwrapping without Node's refused private decryption", () => {
  it("unwraps keys wrapped by node:crypto publicEncrypt with RSA_PKCS1_PADDING", () => {
    for (const length of [16, 24, 32]) {
      const key = randomBytes(length);
      const wrapped = publicEncrypt(
        { key: platform.publicKey, padding: constants.RSA_PKCS1_PADDING },
        key,
      );
      expect(unwrapPkcs1v15(platform.privateKey, wrapped, length).equals(key)).toBe(true);
    }
  });

  it("unwraps keys wrapped by node-forge (as Java's RSA/ECB/PKCS1Padding does)", () => {
    const forgePublic = forge.pki.publicKeyFromPem(platform.publicPem);
    for (let i = 0; i < 10; i++) {
      const key = randomBytes(16);
      const wrapped = Buffer.from(
        forgePublic.encrypt(key.toString("binary"), "RSAES-PKCS1-V1_5"),
        "binary",
      );
      expect(unwrapPkcs1v15(platform.privateKey, wrapped, 16).equals(key)).toBe(true);
    }
  });

  it("Node itself refuses PKCS#1 v1.5 private decryption (why this module exists)", async () => {
    const { privateDecrypt } = await import("node:crypto");
    const wrapped = publicEncrypt(
      { key: platform.publicKey, padding: constants.RSA_PKCS1_PADDING },
      randomBytes(16),
    );
    let refused = false;
    try {
      privateDecrypt({ key: platform.privateKey, padding: constants.RSA_PKCS1_PADDING }, wrapped);
    } catch {
      refused = true;
    }
    // Node >= 20.11 refuses unless started with --security-revert=CVE-2023-46809.
    expect(refused).toBe(true);
  });

  it("implicit rejection: bad padding, wrong key, wrong length give a random key of the expected length", () => {
    const key = randomBytes(16);
    const wrapped = publicEncrypt(
      { key: platform.publicKey, padding: constants.RSA_PKCS1_PADDING },
      key,
    );
    // One byte changed (flipped, so it differs whatever it was: setting it to 1 left the text
    // as it was once in 256 runs).
    const flipped = Buffer.from(wrapped);
    flipped[100] = flipped[100]! ^ 0xff;
    const cases: Buffer[] = [
      flipped,
      publicEncrypt({ key: stranger.publicKey, padding: constants.RSA_PKCS1_PADDING }, key),
      publicEncrypt({ key: platform.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, key),
      wrapped.subarray(1),
      Buffer.alloc(256, 0xff),
    ];
    for (const bad of cases) {
      const a = unwrapPkcs1v15(platform.privateKey, bad, 16);
      const b = unwrapPkcs1v15(platform.privateKey, bad, 16);
      expect(a.length).toBe(16);
      expect(a.equals(key)).toBe(false);
      expect(a.equals(b)).toBe(false); // random each time, no error to tell apart
    }
    // Valid padding around a 32-byte message is rejected when 16 bytes are expected.
    const long = publicEncrypt(
      { key: platform.publicKey, padding: constants.RSA_PKCS1_PADDING },
      randomBytes(32),
    );
    expect(unwrapPkcs1v15(platform.privateKey, long, 16).length).toBe(16);
  });

  it("rejects padding strings shorter than 8 bytes", () => {
    // Build EM = 00 02 PS(7 bytes) 00 M by hand and encrypt it raw.
    const k = 256;
    const message = randomBytes(k - 3 - 7);
    const em = Buffer.concat([
      Buffer.from([0, 2]),
      Buffer.alloc(7, 0x55),
      Buffer.from([0]),
      message,
    ]);
    const raw = publicEncrypt({ key: platform.publicKey, padding: constants.RSA_NO_PADDING }, em);
    const out = unwrapPkcs1v15(platform.privateKey, raw, message.length);
    expect(out.equals(message)).toBe(false);
    // And the same message with an 8-byte PS is accepted.
    const ok = Buffer.concat([
      Buffer.from([0, 2]),
      Buffer.alloc(8, 0x55),
      Buffer.from([0]),
      message.subarray(1),
    ]);
    const raw8 = publicEncrypt({ key: platform.publicKey, padding: constants.RSA_NO_PADDING }, ok);
    expect(
      unwrapPkcs1v15(platform.privateKey, raw8, message.length - 1).equals(message.subarray(1)),
    ).toBe(true);
  });
});
