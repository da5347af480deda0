import { describe, expect, it } from "vitest";
import { validateConfigurableOptions } from "../../src/crypto/configurable/validate-options.ts";
import type { CryptoHandler } from "../../src/crypto/handler.ts";
import {
  type CryptoHandlerFactory,
  createCryptoHandlerRegistry,
} from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { jadeOptions, lanbankOptions, meadowOptions } from "../support/crypto/schemes.ts";

const deps = {
  secrets: createDefaultSecretResolver({ allowInline: true }),
  channel: "test-channel",
};

describe("crypto handler registry", () => {
  it("knows the built-in handlers and reports unknown ones", async () => {
    const registry = createCryptoHandlerRegistry();
    expect(registry.hasHandler("plain")).toBe(true);
    expect(registry.hasHandler("configurable")).toBe(true);
    expect(registry.validateOptions("nope", {})).toEqual([
      { pointer: "", message: expect.stringContaining("no crypto handler named") },
    ]);
    await expect(registry.create({ handler: "nope" }, deps)).rejects.toMatchObject({
      code: "CRYPTO_HANDLER_NOT_FOUND",
      context: { channel: "test-channel", pointer: "/crypto/handler" },
    });
    expect(() => registry.register("plain", registry as unknown as CryptoHandlerFactory)).toThrow(
      /already registered/,
    );
  });

  it("plain passes bodies through its codec", async () => {
    const handler = await createCryptoHandlerRegistry().create({ handler: "plain" }, deps);
    const wire = await handler.sealRequest({
      method: "POST",
      path: "/",
      headers: {},
      query: {},
      body: { a: 1 },
      codec: jsonCodec,
    });
    expect(wire.body).toBe('{"a":1}');
    expect(
      (await handler.openResponse({ status: 200, headers: {}, body: '{"b":2}' }, wire, jsonCodec))
        .body,
    ).toEqual({ b: 2 });
    expect(createCryptoHandlerRegistry().validateOptions("plain", { x: 1 })).toHaveLength(1);
  });

  it("a custom handler is a factory registered by name", async () => {
    // A partner that puts a static API token in a header: a dozen lines, nothing central changes.
    const tokenHeader: CryptoHandlerFactory<{ token: string }> = {
      name: "token-header",
      validateOptions: (o) =>
        typeof (o as { token?: unknown }).token === "string"
          ? []
          : [{ pointer: "/token", message: "token reference is required" }],
      async create(options, { secrets, baseDir }) {
        const token = (
          await secrets.resolve(options.token, baseDir === undefined ? {} : { baseDir })
        ).toString();
        void token;
        const handler: CryptoHandler = {
          async sealRequest(r) {
            return {
              method: r.method,
              path: r.path,
              headers: { ...r.headers, "x-token": "t" },
              query: r.query,
              body: r.codec.encode(r.body),
            };
          },
          async openResponse(r, _q, codec) {
            return { headers: r.headers, query: {}, body: codec.decode(r.body), text: r.body };
          },
          async openRequest(r, codec) {
            return { headers: r.headers, query: r.query, body: codec.decode(r.body), text: r.body };
          },
          async sealResponse(r) {
            return { status: r.status, headers: r.headers, body: r.codec.encode(r.body) };
          },
        };
        return handler;
      },
    };
    const registry = createCryptoHandlerRegistry().register("token-header", tokenHeader);
    expect(registry.validateOptions("token-header", {})).toEqual([
      { pointer: "/token", message: "token reference is required" },
    ]);
    const handler = await registry.create(
      { handler: "token-header", options: { token: "inline:t" } },
      deps,
    );
    expect(
      (
        await handler.sealRequest({
          method: "GET",
          path: "/",
          headers: {},
          query: {},
          body: {},
          codec: jsonCodec,
        })
      ).headers["x-token"],
    ).toBe("t");
  });

  it("invalid options fail creation with CRYPTO_CONFIG_INVALID and a pointer under /crypto/options", async () => {
    const error = await createCryptoHandlerRegistry()
      .create(
        { handler: "configurable", options: { request: { signature: { algorithm: "rsa-md4" } } } },
        deps,
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({
      code: "CRYPTO_CONFIG_INVALID",
      context: { pointer: "/crypto/options/request/signature/algorithm" },
    });
  });
});

describe("configurable options validation", () => {
  it("accepts the example schemes", () => {
    for (const options of [lanbankOptions(), meadowOptions(), jadeOptions()]) {
      expect(validateConfigurableOptions(options)).toEqual([]);
    }
  });

  it.each([
    [{ requets: {} }, "/requets"],
    [{ keys: { signing: { ref: "-----BEGIN PRIVATE KEY-----" } } }, "/keys/signing/ref"],
    [{ keys: { signing: { ref: "file:a.p12", format: "pkcs12" } } }, "/keys/signing/password"],
    [
      { keys: { signing: { ref: "file:a.p12", format: "pkcs12", password: "changeit" } } },
      "/keys/signing/password",
    ],
    [
      {
        keys: { secret: { ref: "env:K" } },
        request: {
          signature: {
            algorithm: "sm3",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/signature/appendKey",
    ],
    [
      {
        request: {
          signature: {
            algorithm: "rsa-sha256",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/signature/algorithm",
    ],
    [
      {
        request: {
          signature: {
            algorithm: "md5",
            appendKey: "&key=",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/signature/appendKey",
    ],
    [
      {
        request: {
          signature: {
            algorithm: "md5",
            canonical: { kind: "rawBody" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/signature/placement",
    ],
    [
      {
        request: {
          signature: {
            algorithm: "md5",
            canonical: { kind: "template", template: "{verb}\n" },
            placement: { in: "query", name: "s" },
          },
        },
      },
      "/request/signature/canonical/template",
    ],
    [
      {
        request: {
          signature: {
            algorithm: "md5",
            canonical: { kind: "rawBody" },
            placement: { in: "header", name: "a", template: "x {who}" },
          },
        },
      },
      "/request/signature/placement/template",
    ],
    [
      {
        request: {
          encryption: {
            cipher: "aes-256-gcm",
            contentKey: "wrapped",
            envelope: { data: "d", key: "k" },
          },
        },
      },
      "/request/encryption/wrap",
    ],
    [
      {
        request: {
          encryption: {
            cipher: "aes-256-gcm",
            contentKey: "shared",
            iv: "zero",
            envelope: { data: "d" },
          },
        },
      },
      "/request/encryption/iv",
    ],
    [
      {
        request: {
          encryption: { cipher: "aes-256-cbc", contentKey: "shared", envelope: { data: "d" } },
        },
      },
      "/request/encryption/contentKey",
    ],
    [{ request: { timestamp: { window: "five minutes" } } }, "/request/timestamp/window"],
    [
      {
        keys: { contentKey: { ref: "env:K" } },
        request: {
          encryption: {
            cipher: "aes-256-cbc",
            contentKey: "shared",
            encoding: { ciphertext: "base64", iv: "HEX" },
            envelope: { data: "d" },
          },
        },
      },
      "/request/encryption/encoding/iv",
    ],
    [
      {
        keys: { contentKey: { ref: "env:K" } },
        request: {
          encryption: {
            cipher: "aes-256-cbc",
            contentKey: "shared",
            encoding: { signature: "hex" },
            envelope: { data: "d" },
          },
        },
      },
      "/request/encryption/encoding/signature",
    ],
    [
      {
        keys: {
          signing: { ref: "env:S" },
          verifying: { ref: "env:V" },
          encryption: { ref: "env:E" },
        },
        request: {
          // In the envelope, while the signature covers the plaintext only: anyone can refresh it.
          timestamp: { in: "body", name: "timestamp", window: "5m" },
          encryption: {
            cipher: "sm4-cbc",
            contentKey: "wrapped",
            wrap: "sm2-c1c3c2",
            envelope: { data: "d", key: "k" },
          },
          signature: {
            algorithm: "sm2-sm3",
            over: "plain",
            canonical: { kind: "rawBody" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/timestamp/window",
    ],
    [
      {
        keys: { secret: { ref: "env:K" } },
        request: {
          timestamp: { in: "header", name: "X-Ts", window: "5m" },
          signature: {
            algorithm: "hmac-sha256",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/request/timestamp/window",
    ],
    [
      {
        keys: { secret: { ref: "env:K" } },
        request: {
          signature: {
            algorithm: "md5",
            appendKey: "&key=",
            over: "plain",
            canonical: { kind: "rawBody" },
            placement: { in: "header", name: "s" },
          },
        },
      },
      "/request/signature/over",
    ],
    [{ callback: { resource: { field: "resource" } } }, "/callback/resource"],
    [
      {
        keys: { signing: { ref: "env:S" }, verifying: { ref: "env:V" } },
        callback: {
          // A top-level field next to the member signed: anyone can refresh it.
          timestamp: { in: "body", name: "timestamp", window: "5m" },
          signature: {
            algorithm: "rsa-sha256",
            canonical: { kind: "jsonMember", member: "notify" },
            placement: { in: "body", name: "sign" },
          },
        },
      },
      "/callback/timestamp/window",
    ],
    [
      {
        keys: { signing: { ref: "env:S" }, verifying: { ref: "env:V" } },
        callback: {
          timestamp: { in: "body", name: "timestamp", window: "5m" },
          signature: {
            algorithm: "cms-rsa-sha256",
            canonical: { kind: "xmlElement", element: "body" },
            placement: { in: "header", name: "X-Signature" },
          },
        },
      },
      "/callback/timestamp/window",
    ],
    [
      {
        keys: { secret: { ref: "env:K" } },
        callback: {
          // {field:X-Ts} reads a body field, never the header the timestamp travels in.
          timestamp: { in: "header", name: "X-Ts", window: "5m" },
          signature: {
            algorithm: "hmac-sha256",
            canonical: { kind: "template", template: "{field:X-Ts}\n{body}" },
            placement: { in: "header", name: "X-Sign" },
          },
        },
      },
      "/callback/timestamp/window",
    ],
    [
      {
        keys: { secret: { ref: "env:K" } },
        callback: {
          timestamp: { in: "body", name: "ts", window: "5m" },
          signature: {
            algorithm: "hmac-sha256",
            canonical: { kind: "template", template: "{header:ts}\n{body}" },
            placement: { in: "header", name: "X-Sign" },
          },
        },
      },
      "/callback/timestamp/window",
    ],
  ])("reports %j at %s", (options, pointer) => {
    const problems = validateConfigurableOptions(options);
    expect(problems.map((p) => p.pointer)).toContain(pointer);
  });
});

describe("a replay window needs a signature over the timestamp", () => {
  const secret = { secret: { ref: "env:K" } };
  const rsa = { signing: { ref: "env:S" }, verifying: { ref: "env:V" } };
  const windowProblems = (options: Record<string, unknown>) =>
    validateConfigurableOptions(options).filter((p) => p.pointer.endsWith("/timestamp/window"));

  it.each([
    ["{timestamp} in a template", { kind: "template", template: "{timestamp}\n{body}" }, "header"],
    [
      "{header:name} for a header timestamp",
      { kind: "template", template: "{header:x-ts}" },
      "header",
    ],
    ["{field:name} for a body timestamp", { kind: "template", template: "{field:X-Ts}" }, "body"],
    ["the JSON member that is the timestamp", { kind: "jsonMember", member: "X-Ts" }, "body"],
    ["a member pattern matching the timestamp", { kind: "jsonMember", pattern: "^X-" }, "body"],
    ["the XML element that is the timestamp", { kind: "xmlElement", element: "X-Ts" }, "body"],
  ])("%s covers it", (_, canonical, where) => {
    const symmetric = canonical.kind === "template";
    expect(
      windowProblems({
        keys: symmetric ? secret : rsa,
        callback: {
          timestamp: { in: where, name: "X-Ts", window: "5m" },
          signature: {
            algorithm: symmetric ? "hmac-sha256" : "rsa-sha256",
            canonical,
            placement: { in: "header", name: "X-Sign" },
          },
        },
      }),
    ).toEqual([]);
  });
});
