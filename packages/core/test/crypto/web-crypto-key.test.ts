import { constants, publicEncrypt, randomBytes, verify, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { webCryptoPrivateKey } from "../../src/crypto/keys/web-crypto-key.ts";
import { platform, stranger } from "../support/crypto/test-keys.ts";

describe("a loaded RSA private key in its WebCrypto form", () => {
  it("is imported once per key and algorithm, and then reused", async () => {
    const signing = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
    const oaep = { name: "RSA-OAEP", hash: "SHA-256" } as const;
    const first = await webCryptoPrivateKey(platform.privateKey, signing, "sign");
    expect(await webCryptoPrivateKey(platform.privateKey, signing, "sign")).toBe(first);
    const decrypting = await webCryptoPrivateKey(platform.privateKey, oaep, "decrypt");
    expect(decrypting).not.toBe(first);
    expect(await webCryptoPrivateKey(stranger.privateKey, signing, "sign")).not.toBe(first);

    const data = randomBytes(64);
    const signature = Buffer.from(await webcrypto.subtle.sign(signing, first, data));
    expect(verify("sha256", data, platform.publicKey, signature)).toBe(true);
    const secret = randomBytes(32);
    const wrapped = publicEncrypt(
      { key: platform.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      secret,
    );
    expect(Buffer.from(await webcrypto.subtle.decrypt(oaep, decrypting, wrapped))).toEqual(secret);
  });
});
