import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { mirrorCryptoOptions } from "../../src/crypto/configurable/mirror.ts";
import type { ConfigurableCryptoOptions } from "../../src/crypto/configurable/options.ts";
import { rsaUnwrapKey, rsaWrapKey } from "../../src/crypto/rsa-key-wrap.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { inline, partner, platform, rsaPair } from "../support/crypto/test-keys.ts";
import { inPollPhase, wherePromisesRan } from "../support/poll-phase.ts";

const forge = createRequire(import.meta.url)("node-forge") as typeof import("node-forge");

const oaep = ["oaep-sha1", "oaep-sha256"] as const;

describe.each(oaep)("RSA key unwrapping with %s", (padding) => {
  it("unwraps what rsaWrapKey and node-forge (as Java's OAEP ciphers do) wrap, 16 or 32 bytes", async () => {
    const md = () => (padding === "oaep-sha1" ? forge.md.sha1.create() : forge.md.sha256.create());
    const forgePublic = forge.pki.publicKeyFromPem(platform.publicPem);
    for (const length of [16, 32]) {
      const key = randomBytes(length);
      const byForge = Buffer.from(
        forgePublic.encrypt(key.toString("binary"), "RSA-OAEP", { md: md(), mgf1: { md: md() } }),
        "binary",
      );
      for (const wrapped of [rsaWrapKey(key, platform.publicKey, padding), byForge]) {
        expect(
          (await rsaUnwrapKey(wrapped, platform.privateKey, padding, length)).equals(key),
        ).toBe(true);
      }
    }
  });

  it("resolves a tampered, truncated, foreign or wrong-length wrapped key to a random key of the expected length", async () => {
    const key = randomBytes(32);
    const wrapped = rsaWrapKey(key, platform.publicKey, padding);
    const flipped = Buffer.from(wrapped);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    const other = padding === "oaep-sha1" ? "oaep-sha256" : "oaep-sha1";
    const bad = [
      flipped,
      wrapped.subarray(1),
      Buffer.alloc(0),
      Buffer.alloc(wrapped.length, 0xff), // larger than the modulus
      rsaWrapKey(key, partner.publicKey, padding),
      rsaWrapKey(key, platform.publicKey, other),
      rsaWrapKey(key.subarray(0, 16), platform.publicKey, padding),
    ];
    for (const wrappedKey of bad) {
      const first = await rsaUnwrapKey(wrappedKey, platform.privateKey, padding, 32);
      const second = await rsaUnwrapKey(wrappedKey, platform.privateKey, padding, 32);
      expect(first.length).toBe(32);
      expect(first.equals(key)).toBe(false);
      expect(first.equals(second)).toBe(false);
    }
  });

  it("runs off the event loop: an immediate scheduled with a batch of unwraps runs before any of them is done", async () => {
    const own = rsaPair();
    const keys = Array.from({ length: 32 }, () => randomBytes(32));
    const wrapped = keys.map((key) => rsaWrapKey(key, own.publicKey, padding));
    // The first unwrap with a key imports it; measured here are the unwraps after that.
    await rsaUnwrapKey(wrapped[0] as Buffer, own.privateKey, padding, 32);
    const order: string[] = [];
    const unwrapped = await inPollPhase(() => {
      setImmediate(() => order.push("immediate"));
      return Promise.all(
        wrapped.map((w) =>
          rsaUnwrapKey(w, own.privateKey, padding, 32).then((key) => {
            order.push("unwrapped");
            return key;
          }),
        ),
      );
    });
    expect(unwrapped.every((key, i) => key.equals(keys[i] as Buffer))).toBe(true);
    expect(order[0]).toBe("immediate");
    expect(order.filter((what) => what === "unwrapped")).toHaveLength(keys.length);
  });

  it("runs on the event loop without the thread pool: every unwrap is done before the immediate", async () => {
    const own = rsaPair();
    const keys = Array.from({ length: 8 }, () => randomBytes(32));
    const wrapped = keys.map((key) => rsaWrapKey(key, own.publicKey, padding));
    const unwrapped: Buffer[] = [];
    const where = await wherePromisesRan(
      wrapped.map(
        (w, i) => () =>
          rsaUnwrapKey(w, own.privateKey, padding, 32, false).then((key) => {
            unwrapped[i] = key;
          }),
      ),
    );
    expect(where).toBe("event-loop");
    expect(unwrapped.every((key, i) => key.equals(keys[i] as Buffer))).toBe(true);
    // Implicit rejection holds on the event loop too: a tampered key is a random key, no error.
    const flipped = Buffer.from(wrapped[0] as Buffer);
    flipped[5] = (flipped[5] ?? 0) ^ 1;
    const bad = await rsaUnwrapKey(flipped, own.privateKey, padding, 32, false);
    expect(bad.length).toBe(32);
    expect(bad.equals(keys[0] as Buffer)).toBe(false);
  });
});

describe.each([...oaep, "oaep-sha256-mgf1sha1"] as const)(
  "a wrapped content key (%s) altered on the wire fails like an altered ciphertext",
  (padding) => {
    const options: ConfigurableCryptoOptions = {
      keys: {
        encryption: { ref: inline(partner.publicPem) },
        decryption: { ref: inline(platform.privatePem) },
      },
      request: {
        encryption: {
          cipher: "aes-256-gcm",
          contentKey: "wrapped",
          wrap: `rsa-${padding}`,
          envelope: { data: "data", key: "key" },
        },
      },
    };
    const partnerKeys = {
      encryption: { ref: inline(platform.publicPem) },
      decryption: { ref: inline(partner.privatePem) },
    };

    it("CRYPTO_DECRYPT_FAILED with the same message, never a padding error", async () => {
      const client = await handlerFor(options);
      const mock = await handlerFor(mirrorCryptoOptions(options, partnerKeys));
      const body = { loan_no: "L1", name: "张三" };
      const wire = await client.sealRequest({
        method: "POST",
        path: "/",
        headers: {},
        query: {},
        body,
        codec: jsonCodec,
      });
      expect((await mock.openRequest(wire, jsonCodec)).body).toEqual(body);
      const altered = (field: "data" | "key", at: number) => {
        const envelope = JSON.parse(wire.body) as Record<string, string>;
        const bytes = Buffer.from(envelope[field] ?? "", "base64");
        bytes[at] = (bytes[at] ?? 0) ^ 1;
        envelope[field] = bytes.toString("base64");
        return { ...wire, body: JSON.stringify(envelope) };
      };
      const failure = (message: typeof wire) =>
        mock.openRequest(message, jsonCodec).then(
          () => undefined,
          (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
        );
      const ciphertextFailure = await failure(altered("data", 20));
      expect(ciphertextFailure?.code).toBe("CRYPTO_DECRYPT_FAILED");
      for (const at of [0, 1, 128, 255]) {
        expect(await failure(altered("key", at))).toEqual(ciphertextFailure);
      }
    });
  },
);
