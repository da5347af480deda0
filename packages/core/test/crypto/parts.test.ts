import { describe, expect, it } from "vitest";
import { sortedFieldsCanonical } from "../../src/crypto/canonicalize.ts";
import { compileHeaderTemplate } from "../../src/crypto/configurable/header-template.ts";
import { mirrorCryptoOptions } from "../../src/crypto/configurable/mirror.ts";
import type {
  ConfigurableCryptoOptions,
  EncryptionPart,
  MessageProfile,
  SignaturePart,
} from "../../src/crypto/configurable/options.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor, TestClock } from "../support/crypto/handlers.ts";
import { inline, partner, partnerNext, platform } from "../support/crypto/test-keys.ts";

describe("canonicalisation", () => {
  const fields = {
    b: "x y&z",
    a: "1",
    empty: "",
    nested: { k: [1, 2] },
    sign: "S",
    sign_type: "RSA2",
    n: 5,
  };
  it("sorted k=v, dropping empties and the signature field, nested values as JSON", () => {
    expect(sortedFieldsCanonical(fields, { kind: "sortedFields" }, "sign")).toBe(
      'a=1&b=x y&z&n=5&nested={"k":[1,2]}&sign_type=RSA2',
    );
  });
  it("keeps empties, excludes sign_type, URL-encodes values, custom separators, include list", () => {
    expect(
      sortedFieldsCanonical(
        fields,
        {
          kind: "sortedFields",
          emptyValues: "keep",
          exclude: ["sign_type", "nested"],
          values: "urlEncoded",
        },
        "sign",
      ),
    ).toBe("a=1&b=x%20y%26z&empty=&n=5");
    expect(
      sortedFieldsCanonical(
        fields,
        { kind: "sortedFields", include: ["a", "n"], separator: "|", keyValueSeparator: ":" },
        undefined,
      ),
    ).toBe("a:1|n:5");
  });
  it("leaves out @name keys only as XML root attributes; elsewhere they are signed fields", () => {
    const withAttribute = { "@version": "2.1", a: "1" };
    expect(sortedFieldsCanonical(withAttribute, { kind: "sortedFields" }, undefined, true)).toBe(
      "a=1",
    );
    expect(sortedFieldsCanonical(withAttribute, { kind: "sortedFields" }, undefined)).toBe(
      "@version=2.1&a=1",
    );
  });
});

describe("header templates", () => {
  const t = compileHeaderTemplate(
    'SCHEME mchid="{mchid}",serial_no="{serial}",signature="{signature}"',
    { mchid: "19" },
  );
  it("render and parse are inverse", () => {
    const header = t.render({ serial: "AB", signature: "c2ln+/=" });
    expect(header).toBe('SCHEME mchid="19",serial_no="AB",signature="c2ln+/="');
    expect(t.parse(header)).toEqual({ serial: "AB", signature: "c2ln+/=" });
  });
  it("a header of another shape or another fixed value does not parse", () => {
    expect(t.parse('OTHER mchid="19",serial_no="AB",signature="x"')).toBeUndefined();
    expect(t.parse('SCHEME mchid="20",serial_no="AB",signature="x"')).toBeUndefined();
  });
});

const ciphers: EncryptionPart[] = [
  {
    cipher: "aes-128-cbc",
    contentKey: "wrapped",
    wrap: "rsa-oaep-sha256",
    envelope: { data: "data", key: "key" },
  },
  {
    cipher: "aes-256-cbc",
    contentKey: "wrapped",
    wrap: "rsa-pkcs1",
    iv: "field",
    envelope: { data: "data", key: "key", iv: "iv" },
  },
  {
    cipher: "aes-128-ecb",
    contentKey: "wrapped",
    wrap: "rsa-oaep-sha1",
    encoding: "hex",
    envelope: { format: "form", data: "data", key: "key" },
  },
  { cipher: "aes-256-ecb", contentKey: "shared", envelope: { data: "data" } },
  {
    cipher: "aes-128-gcm",
    contentKey: "wrapped",
    wrap: "rsa-pkcs1",
    aad: "capflow",
    envelope: { data: "data", key: "key" },
  },
  { cipher: "aes-256-gcm", contentKey: "shared", envelope: { data: "data" } },
  { cipher: "aes-256-cbc", contentKey: "shared", iv: "zero", envelope: { data: "data" } },
  { cipher: "sm4-ecb", contentKey: "shared", envelope: { data: "data" } },
];

describe.each(ciphers)("envelope $cipher ($contentKey $wrap)", (encryption) => {
  const keyLength = encryption.cipher.includes("256") ? 32 : 16;
  const options: ConfigurableCryptoOptions = {
    keys: {
      encryption: { ref: inline(partner.publicPem) },
      decryption: { ref: inline(platform.privatePem) },
      contentKey: { ref: `inline:${"k".repeat(keyLength)}` },
    },
    request: { encryption },
  };
  const partnerKeys = {
    encryption: { ref: inline(platform.publicPem) },
    decryption: { ref: inline(partner.privatePem) },
  };
  const body = { loan_no: "L1", name: "张三" };

  it("round trips, and any altered byte of the ciphertext fails with CRYPTO_DECRYPT_FAILED", async () => {
    const client = await handlerFor(options);
    const mock = await handlerFor(mirrorCryptoOptions(options, partnerKeys));
    const wire = await client.sealRequest({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body,
      codec: jsonCodec,
    });
    expect((await mock.openRequest(wire, jsonCodec)).body).toEqual(body);
    const format = encryption.envelope.format ?? "json";
    const envelope =
      format === "json"
        ? (JSON.parse(wire.body) as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(wire.body));
    const encoding = encryption.encoding === "hex" ? "hex" : "base64";
    let data = Buffer.from(envelope.data ?? "", encoding);
    if (encryption.cipher.endsWith("gcm")) {
      data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 0x01; // the tag
    } else {
      // Without a MAC, drop the last block: the new last byte is JSON text, never valid PKCS#7
      // padding, so the failure is deterministic (a flipped bit fails only 255 times in 256).
      data = data.subarray(0, data.length - 16);
    }
    envelope.data = data.toString(encoding);
    const tampered =
      format === "json" ? JSON.stringify(envelope) : new URLSearchParams(envelope).toString();
    let failures = 0;
    for (let i = 0; i < 3; i++) {
      await mock
        .openRequest({ ...wire, body: tampered }, jsonCodec)
        .catch((e: { code: string }) => {
          expect(e.code).toBe("CRYPTO_DECRYPT_FAILED");
          failures++;
        });
    }
    expect(failures).toBe(3);
  });
});

describe("an encoding per envelope part", () => {
  it("writes ciphertext, wrapped key and IV each in its own encoding, and reads them back", async () => {
    const options: ConfigurableCryptoOptions = {
      keys: {
        encryption: { ref: inline(partner.publicPem) },
        decryption: { ref: inline(platform.privatePem) },
      },
      request: {
        encryption: {
          cipher: "sm4-cbc",
          contentKey: "wrapped",
          wrap: "rsa-oaep-sha256",
          iv: "field",
          encoding: { ciphertext: "base64url", key: "hex", iv: "hex-upper" },
          envelope: { data: "data", key: "key", iv: "iv" },
        },
      },
    };
    const client = await handlerFor(options);
    const mock = await handlerFor(
      mirrorCryptoOptions(options, {
        encryption: { ref: inline(platform.publicPem) },
        decryption: { ref: inline(partner.privatePem) },
      }),
    );
    const body = { loan_no: "L1", name: "张三" };
    const wire = await client.sealRequest({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body,
      codec: jsonCodec,
    });
    const envelope = JSON.parse(wire.body) as Record<string, string>;
    expect(envelope.key).toMatch(/^[0-9a-f]{512}$/);
    expect(envelope.iv).toMatch(/^[0-9A-F]{32}$/);
    expect(envelope.data).toMatch(/^[A-Za-z0-9_-]+$/);
    expect((await mock.openRequest(wire, jsonCodec)).body).toEqual(body);
    // A part in another part's encoding is not read.
    const swapped = { ...envelope, iv: Buffer.from(envelope.iv ?? "", "hex").toString("base64") };
    await expect(
      mock.openRequest({ ...wire, body: JSON.stringify(swapped) }, jsonCodec),
    ).rejects.toMatchObject({ code: "CRYPTO_DECRYPT_FAILED" });
  });
});

describe("key rotation", () => {
  const profile = {
    keyId: { in: "header" as const, name: "X-Key-Id" },
    signature: {
      algorithm: "rsa-sha256" as const,
      canonical: { kind: "rawBody" as const },
      placement: { in: "header" as const, name: "X-Sign" },
    },
  };
  const client: ConfigurableCryptoOptions = {
    keys: {
      signing: { ref: inline(platform.privatePem) },
      verifying: [
        { ref: inline(partner.publicPem), id: "2025" },
        { ref: inline(partnerNext.publicPem), id: "2026" },
      ],
    },
    callback: profile,
  };
  const partnerWith = (pem: string, id: string) =>
    handlerFor(
      mirrorCryptoOptions(client, {
        signing: { ref: inline(pem), id },
        verifying: { ref: inline(platform.publicPem) },
      }),
    );
  const send = async (pem: string, id: string, override?: string) => {
    const mock = await partnerWith(pem, id);
    const wire = await mock.sealRequest({
      method: "POST",
      path: "/cb",
      headers: {},
      query: {},
      body: { ok: true },
      codec: jsonCodec,
    });
    if (override !== undefined) wire.headers["x-key-id"] = override;
    return (await handlerFor(client)).openRequest(wire, jsonCodec);
  };

  it("accepts both the current and the next key, chosen by key id", async () => {
    await expect(send(partner.privatePem, "2025")).resolves.toMatchObject({ body: { ok: true } });
    await expect(send(partnerNext.privatePem, "2026")).resolves.toMatchObject({
      body: { ok: true },
    });
  });

  it("rejects a signature under the wrong id, and an unknown id", async () => {
    await expect(send(partnerNext.privatePem, "2026", "2025")).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
    await expect(send(partner.privatePem, "2024")).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringContaining("unknown key id 2024"),
    });
  });
});

describe("signature placement in the query and the replay window", () => {
  it("signs into the query, with a timestamp header checked against an injectable clock", async () => {
    const clock = new TestClock();
    const options: ConfigurableCryptoOptions = {
      keys: { secret: { ref: "inline:hmac-secret" } },
      request: {
        timestamp: { in: "header", name: "X-Timestamp", format: "unixSeconds", window: "5m" },
        nonce: { in: "header", name: "X-Nonce", alphabet: "hex", length: 16 },
        signature: {
          algorithm: "hmac-sha256",
          output: "base64url",
          canonical: {
            kind: "template",
            template: "{method}\n{path}\n{header:x-timestamp}\n{nonce}\n{body}",
          },
          placement: { in: "query", name: "signature" },
        },
      },
    };
    const client = await handlerFor(options, { clock });
    const mock = await handlerFor(mirrorCryptoOptions(options, {}), { clock });
    const wire = await client.sealRequest({
      method: "POST",
      path: "/api",
      headers: {},
      query: { a: "1" },
      body: { x: 1 },
      codec: jsonCodec,
    });
    expect(wire.query.signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(wire.headers["x-nonce"]).toMatch(/^[0-9a-f]{16}$/);
    await expect(mock.openRequest(wire, jsonCodec)).resolves.toMatchObject({ body: { x: 1 } });
    clock.ms += 4 * 60_000;
    await expect(mock.openRequest(wire, jsonCodec)).resolves.toBeDefined();
    clock.ms -= 10 * 60_000; // a timestamp from the future is as suspect as an old one
    await expect(mock.openRequest(wire, jsonCodec)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      context: { failed: expect.stringContaining("replay window") },
    });
    clock.ms += 6 * 60_000;
    await expect(
      mock.openRequest({ ...wire, query: { ...wire.query, a: "2" } }, jsonCodec),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
    await expect(mock.openRequest({ ...wire, query: { a: "1" } }, jsonCodec)).rejects.toMatchObject(
      {
        code: "CRYPTO_VERIFY_FAILED",
        message: expect.stringContaining("missing"),
      },
    );
  });

  it("RSA-PSS and RSA-SHA1 signatures round trip", async () => {
    for (const algorithm of ["rsa-pss-sha256", "rsa-sha1"] as const) {
      const options: ConfigurableCryptoOptions = {
        keys: {
          signing: { ref: inline(platform.privatePem) },
          verifying: { ref: inline(partner.publicPem) },
        },
        request: {
          signature: {
            algorithm,
            canonical: { kind: "rawBody" },
            placement: { in: "header", name: "sig" },
          },
        },
      };
      const client = await handlerFor(options);
      const mock = await handlerFor(
        mirrorCryptoOptions(options, {
          signing: { ref: inline(partner.privatePem) },
          verifying: { ref: inline(platform.publicPem) },
        }),
      );
      const wire = await client.sealRequest({
        method: "POST",
        path: "/",
        headers: {},
        query: {},
        body: { a: 1 },
        codec: jsonCodec,
      });
      await expect(mock.openRequest(wire, jsonCodec)).resolves.toMatchObject({ body: { a: 1 } });
      await expect(mock.openRequest({ ...wire, body: '{"a":2}' }, jsonCodec)).rejects.toMatchObject(
        { code: "CRYPTO_VERIFY_FAILED" },
      );
    }
  });
});

describe("an unreadable envelope fails the check that reads it first", () => {
  const encryption: EncryptionPart = {
    cipher: "aes-256-gcm",
    contentKey: "wrapped",
    wrap: "rsa-oaep-sha256",
    envelope: { data: "data", key: "key" },
  };
  const keys = {
    signing: { ref: inline(platform.privatePem) },
    verifying: { ref: inline(partner.publicPem) },
    encryption: { ref: inline(partner.publicPem) },
    decryption: { ref: inline(platform.privatePem) },
  };
  const partnerKeys = {
    signing: { ref: inline(partner.privatePem) },
    verifying: { ref: inline(platform.publicPem) },
    encryption: { ref: inline(platform.publicPem) },
    decryption: { ref: inline(partner.privatePem) },
  };
  const notAnEnvelope = "[1,2,3]";
  const signedWith = (signature: SignaturePart): MessageProfile => ({ encryption, signature });
  const open = async (
    options: ConfigurableCryptoOptions,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    const mock = await handlerFor(mirrorCryptoOptions(options, partnerKeys));
    return mock.openRequest({ method: "POST", path: "/", headers, query: {}, body }, jsonCodec);
  };

  it("a signature read from the envelope's fields: verification", async () => {
    const options: ConfigurableCryptoOptions = {
      keys,
      request: signedWith({
        algorithm: "rsa-sha256",
        canonical: { kind: "sortedFields" },
        placement: { in: "body", name: "sign" },
      }),
    };
    await expect(open(options, notAnEnvelope)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      context: { failed: "the body is not the configured envelope" },
    });
  });

  it("a signature over the plain body: decryption, which runs first", async () => {
    const options: ConfigurableCryptoOptions = {
      keys,
      request: signedWith({
        algorithm: "rsa-sha256",
        over: "plain",
        canonical: { kind: "rawBody" },
        placement: { in: "header", name: "X-Sign" },
      }),
    };
    // The signature is wrong too, but it covers the plaintext, which decryption must give first.
    await expect(open(options, notAnEnvelope, { "x-sign": "AAAA" })).rejects.toMatchObject({
      code: "CRYPTO_DECRYPT_FAILED",
      context: { failed: "the body is not the configured envelope" },
    });
  });

  it("a valid signature over the raw wire text: verification passes, decryption fails", async () => {
    const signature: SignaturePart = {
      algorithm: "rsa-sha256",
      canonical: { kind: "rawBody" },
      placement: { in: "header", name: "X-Sign" },
    };
    const options: ConfigurableCryptoOptions = { keys, callback: signedWith(signature) };
    // The partner signs a body that is not an envelope (its own bug): the signature is genuine.
    const signer = await handlerFor({
      keys: { signing: partnerKeys.signing, verifying: partnerKeys.verifying },
      request: { signature },
    });
    const signed = await signer.sealRequest({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body: [1, 2, 3],
      codec: jsonCodec,
    });
    expect(signed.body).toBe(notAnEnvelope);
    const client = await handlerFor(options);
    await expect(client.openRequest(signed, jsonCodec)).rejects.toMatchObject({
      code: "CRYPTO_DECRYPT_FAILED",
    });
    // Without the genuine signature the same body fails verification.
    await expect(
      client.openRequest({ ...signed, headers: { "x-sign": "AAAA" } }, jsonCodec),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });
});
